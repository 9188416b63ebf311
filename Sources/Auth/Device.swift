import ProcessorAPI

/// A device as the registry stores it (architecture.md, "Message model").
package struct Device: Sendable, Equatable {
    /// Lower-case UUID.
    package var id: String
    package var name: String
    package var type: String
    package var enabled: Bool
    /// Milliseconds since the Unix epoch.
    package var createdAt: Int64
    package var updatedAt: Int64
    package var lastActivityAt: Int64?

    package var identity: DeviceIdentity { DeviceIdentity(id: id, name: name, type: type) }
}

/// The three attribute scopes: client (set by the device), shared (set by the
/// backend, pushed to the device), server (backend only).
package enum AttributeScope: String, Sendable, CaseIterable {
    case client
    case shared
    case server
}

/// Kinds of device credential; one device may hold several.
package enum CredentialKind: String, Sendable {
    /// SHA-256 of the access token, hex.
    case accessToken = "access_token"
    /// The endpoint name an LwM2M client registers with.
    case lwm2mEndpoint = "lwm2m_endpoint"
}

package enum RegistryError: Error, Sendable, Equatable, CustomStringConvertible {
    case duplicateName(String)
    case notFound(String)
    case invalid(field: String, reason: String)
    case database(String)
    /// A device's client attributes would pass CLIENT_ATTRIBUTES_MAX_KEYS
    /// or CLIENT_ATTRIBUTES_MAX_BYTES; nothing of the update was stored.
    case quotaExceeded(String)

    package var description: String {
        switch self {
        case .duplicateName(let name): "a device named '\(name)' already exists"
        case .notFound(let what): "no device \(what)"
        case .invalid(let field, let reason): "\(field): \(reason)"
        case .database(let text): "registry: \(text)"
        case .quotaExceeded(let text): text
        }
    }
}
