import Auth
import Foundation
import ProcessorAPI
import Testing

@Suite("Credential cache")
struct DeviceAuthenticatorTests {
    @Test("hits, TTL expiry and the negative cache")
    func caching() async throws {
        let (registry, directory) = try makeRegistry()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let clock = ManualClock()
        let authenticator = DeviceAuthenticator(
            registry: registry, ttl: .seconds(60), negativeTTL: .seconds(5), metrics: GatewayMetrics(),
            now: { clock.now })
        let (device, token) = try await registry.createDevice(name: "c1")
        guard case .authenticated(let identity) = await authenticator.authenticate(token: token) else {
            Issue.record("not authenticated")
            return
        }
        #expect(identity.id == device.id && identity.name == "c1")
        #expect(authenticator.cachedCount == 1)

        // A change behind the cache's back (as another process would make)
        // is seen only after the TTL; in-process changes are seen at once.
        try await DeviceRegistry(directory: directory).updateDevice(id: device.id, enabled: false)
        if case .authenticated = await authenticator.authenticate(token: token) {} else { Issue.record("cache not used") }
        clock.advance(.seconds(61))
        #expect(await isDisabled(authenticator.authenticate(token: token)))

        // Unknown tokens are remembered for the negative TTL, even if a device
        // with that token appears elsewhere meanwhile.
        #expect(await isUnknown(authenticator.authenticate(token: "later-token-of-twenty-chars")))
        _ = try await DeviceRegistry(directory: directory).createDevice(name: "late", token: "later-token-of-twenty-chars")
        #expect(await isUnknown(authenticator.authenticate(token: "later-token-of-twenty-chars")))
        clock.advance(.seconds(6))
        if case .authenticated = await authenticator.authenticate(token: "later-token-of-twenty-chars") {} else { Issue.record("negative entry did not expire") }

        #expect(await isMalformed(authenticator.authenticate(token: "has space")))
    }

    @Test("a storm of first look-ups at once: known, disabled, unknown and repeated tokens each get their own answer")
    func storm() async throws {
        let (registry, directory) = try makeRegistry()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let authenticator = DeviceAuthenticator(registry: registry, ttl: .seconds(60), metrics: GatewayMetrics())
        var expected: [String: String] = [:]
        for number in 0..<600 {
            let (device, token) = try await registry.createDevice(name: "storm-\(number)")
            if number % 100 == 7 {
                _ = try await registry.updateDevice(id: device.id, enabled: false)
                expected[token] = "disabled"
            } else {
                expected[token] = device.id
            }
        }
        for number in 0..<50 { expected["nobody-\(number)"] = "unknown" }
        // Every token three times, all at once: more than one query's 500 values.
        let tokens = Array(expected.keys) + Array(expected.keys) + Array(expected.keys)
        let answers = await withTaskGroup(of: (String, String).self) { group in
            for token in tokens {
                group.addTask {
                    switch await authenticator.authenticateUncached(token: token) {
                    case .authenticated(let identity): (token, identity.id)
                    case .disabled: (token, "disabled")
                    case .unknown: (token, "unknown")
                    case let other: (token, "\(other)")
                    }
                }
            }
            var answers: [(String, String)] = []
            for await answer in group { answers.append(answer) }
            return answers
        }
        #expect(answers.count == tokens.count)
        #expect(answers.allSatisfy { expected[$0.0] == $0.1 }, "\(answers.filter { expected[$0.0] != $0.1 }.prefix(5))")
        #expect(authenticator.cachedCount == 650, "every answer cached: 600 devices (disabled ones too) and 50 unknown tokens")
    }

    @Test("the look-up thread ends when idle and the next miss starts another; answers keep coming, cached or not")
    func lookupThreadRestarts() async throws {
        let (registry, directory) = try makeRegistry()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let authenticator = DeviceAuthenticator(registry: registry, ttl: .milliseconds(50), metrics: GatewayMetrics(), lookupThreadIdle: .milliseconds(20))
        let (device, token) = try await registry.createDevice(name: "restarts")
        for round in 0..<5 {
            // Past the cache TTL and the thread's idle time: each round asks the registry on a new thread.
            try await Task.sleep(for: .milliseconds(80))
            #expect(authenticator.cachedResult(token: token) == nil, "round \(round): expired from the cache")
            guard case .authenticated(let identity) = await authenticator.authenticateUncached(token: token) else {
                Issue.record("round \(round): not authenticated")
                continue
            }
            #expect(identity.id == device.id)
            guard case .unknown = await authenticator.authenticateUncached(token: "nobody-\(round)") else {
                Issue.record("round \(round): an unknown token was not refused")
                continue
            }
        }
    }

    @Test("disable, rotate and remove in this process invalidate at once")
    func invalidation() async throws {
        let (registry, directory) = try makeRegistry()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let authenticator = DeviceAuthenticator(registry: registry, ttl: .seconds(3600), metrics: GatewayMetrics())
        let (device, token) = try await registry.createDevice(name: "inv")
        if case .authenticated = await authenticator.authenticate(token: token) {} else { Issue.record("not authenticated") }

        try await registry.updateDevice(id: device.id, enabled: false)
        #expect(await isDisabled(authenticator.authenticate(token: token)))
        try await registry.updateDevice(id: device.id, enabled: true)
        if case .authenticated = await authenticator.authenticate(token: token) {} else { Issue.record("not re-enabled") }

        let rotated = try await registry.rotateToken(deviceId: device.id)
        #expect(await isUnknown(authenticator.authenticate(token: token)))
        if case .authenticated = await authenticator.authenticate(token: rotated) {} else { Issue.record("new token refused") }

        try await registry.removeDevice(id: device.id)
        #expect(await isUnknown(authenticator.authenticate(token: rotated)))
    }

    @Test("the negative cache is bounded")
    func negativeBound() async throws {
        let (registry, directory) = try makeRegistry()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let authenticator = DeviceAuthenticator(registry: registry, ttl: .seconds(60), metrics: GatewayMetrics())
        for index in 0..<(DeviceAuthenticator.negativeCacheLimit + 10) {
            _ = await authenticator.authenticate(token: "unknown-\(index)")
        }
        #expect(authenticator.cachedCount <= DeviceAuthenticator.negativeCacheLimit)
    }

    func isDisabled(_ result: AuthenticationResult) -> Bool { if case .disabled = result { true } else { false } }
    func isUnknown(_ result: AuthenticationResult) -> Bool { if case .unknown = result { true } else { false } }
    func isMalformed(_ result: AuthenticationResult) -> Bool { if case .malformed = result { true } else { false } }
}
