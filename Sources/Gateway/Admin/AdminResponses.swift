import Auth
import Hummingbird
import NIOCore
import ProcessorAPI

/// JSON answers of the admin API.
enum AdminResponses {
    static func json(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }

    /// `{"error":"…","field":"…"}`; the field names the input at fault.
    static func error(_ status: HTTPResponse.Status, _ message: String, field: String? = nil) -> Response {
        var body = #"{"error":"# + JSONEscaping.quoted(message)
        if let field { body += #","field":"# + JSONEscaping.quoted(field) }
        return json(status, body + "}")
    }

    static func registryError(_ error: RegistryError) -> Response {
        switch error {
        case .duplicateName: self.error(.conflict, error.description, field: "name")
        case .notFound: self.error(.notFound, error.description)
        case .invalid(let field, _): self.error(.badRequest, error.description, field: field)
        case .database: self.error(.serviceUnavailable, error.description)
        case .quotaExceeded: self.error(.contentTooLarge, error.description)
        }
    }

    static func device(_ device: Device, token: String? = nil) -> String {
        var fields = [
            #""id":"# + JSONEscaping.quoted(device.id),
            #""name":"# + JSONEscaping.quoted(device.name),
            #""type":"# + JSONEscaping.quoted(device.type),
            #""enabled":"# + (device.enabled ? "true" : "false"),
            #""createdAt":"# + String(device.createdAt),
            #""updatedAt":"# + String(device.updatedAt),
            #""lastActivityAt":"# + (device.lastActivityAt.map { String($0) } ?? "null"),
        ]
        if let token { fields.append(#""token":"# + JSONEscaping.quoted(token)) }
        return "{" + fields.joined(separator: ",") + "}"
    }

    static func attributes(_ values: [(key: String, json: String)]) -> String {
        DeviceRegistry.jsonObject(values)
    }
}
