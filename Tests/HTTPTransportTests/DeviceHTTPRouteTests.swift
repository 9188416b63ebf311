import Testing

@testable import HTTPTransport

@Suite("HTTP device API: routes")
struct DeviceHTTPRouteTests {
    @Test("ThingsBoard's device paths, with and without a query")
    func routes() {
        func route(_ uri: String) -> DeviceHTTPRoute? { DeviceHTTPRoute.parse(uri)?.route }
        #expect(route("/api/v1/T1/telemetry") == .telemetry(token: "T1"))
        #expect(route("/api/v1/T1/attributes?clientKeys=a,b") == .attributes(token: "T1"))
        #expect(DeviceHTTPRoute.parse("/api/v1/T1/attributes?clientKeys=a,b")?.query == "clientKeys=a,b")
        #expect(route("/api/v1/T1/attributes/updates?timeout=100") == .attributeUpdates(token: "T1"))
        #expect(route("/api/v1/T1/rpc") == .rpc(token: "T1"))
        #expect(route("/api/v1/T1/rpc/42") == .rpcReply(token: "T1", id: "42"))
        #expect(route("/health") == .health)
    }

    @Test("anything else is no route (404)")
    func unknown() {
        for uri in [
            "/", "/api/v1/T1", "/api/v1/T1/", "/api/v1//telemetry", "/api/v1/T1/telemetry/", "/api/v1/T1/rpc/",
            "/api/v1/T1/rpc/1/2", "/api/v2/T1/telemetry", "/api/v1/T1/other", "api/v1/T1/telemetry", "/health/x",
        ] {
            #expect(DeviceHTTPRoute.parse(uri) == nil, "\(uri)")
        }
    }
}
