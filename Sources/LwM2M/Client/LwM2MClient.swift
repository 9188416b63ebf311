import Auth
import CoAPCodec
import CoAPEndpoint
import Logging
import NIOCore
import NIOPosix
import ProcessorAPI
import ServiceLifecycle
import Synchronization

/// The LwM2M client role (issue 11): the gateway registers with one
/// upstream LwM2M server as the client LWM2M_CLIENT_ENDPOINT, exposing its
/// Server and Device objects and one object instance per enabled device of
/// the registry. It Updates at about half the lifetime and whenever
/// devices come, go or change, re-registers after 4.04 to an Update or an
/// unreachable server (with backoff), and de-registers on shutdown
/// (Core §6.2).
package final class LwM2MClient: Service, Sendable {
    private let configuration: LwM2MClientConfiguration
    private let registry: DeviceRegistry
    private let mapping: LwM2MClientMapping
    private let models: LwM2MModelRegistry
    private let values: LwM2MLastValues
    private let downlink: LwM2MClientDownlink
    private let metrics: GatewayMetrics
    private let logger: Logger
    /// The server executed /1/0/8, Registration Update Trigger.
    private let updateTriggered = Atomic<Bool>(false)

    package init(
        configuration: LwM2MClientConfiguration, registry: DeviceRegistry, mapping: LwM2MClientMapping, models: LwM2MModelRegistry,
        values: LwM2MLastValues, downlink: LwM2MClientDownlink, metrics: GatewayMetrics, logger: Logger
    ) {
        self.configuration = configuration
        self.registry = registry
        self.mapping = mapping
        self.models = models
        self.values = values
        self.downlink = downlink
        self.metrics = metrics
        self.logger = logger
    }

    private enum RegistrationError: Error {
        /// 4.04 to an Update: the server forgot us (Core §6.2.2).
        case notRegistered
        case refused(CoAPCode, String)
    }

    package func run() async throws {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let own = LwM2MClientOwnObjects(
            lifetimeSeconds: configuration.lifetime.components.seconds, binding: configuration.binding,
            endpointName: configuration.endpointName, version: configuration.version)
        let (values, models, downlink, metrics, logger) = (self.values, self.models, self.downlink, self.metrics, self.logger)
        let handler = try await loop.submit { [self] in
            NIOLoopBound(
                LwM2MClientHandler(
                    own: own, values: values, models: models, downlink: downlink, metrics: metrics, logger: logger,
                    onUpdateTrigger: { [self] in updateTriggered.store(true, ordering: .relaxed) }),
                eventLoop: loop)
        }.get()
        let endpoint = try await CoAPEndpoint.bind(configuration: configuration.endpoint, group: loop, logger: logger) { handler.value }
        logger.info(
            "LwM2M client started",
            metadata: [
                "local_port": "\(endpoint.localAddress?.port ?? 0)", "server": "\(configuration.serverHost):\(configuration.serverPort)",
                "endpoint": "\(configuration.endpointName)",
            ])
        values.onChange {
            loop.execute { handler.value.valuesChanged(values.takeChanged()) }
        }
        await maintainRegistration(endpoint: endpoint, handler: handler)
        await endpoint.close()
        metrics.lwm2mClientRegistered(false)
    }

    /// Register, Update, re-register, until shutdown; then De-register.
    private func maintainRegistration(endpoint: CoAPEndpoint, handler: NIOLoopBound<LwM2MClientHandler>) async {
        var location: [String]?
        var sentLinks = ""
        var nextUpdate = ContinuousClock.now
        var backoff = Duration.seconds(1)
        var revision: Int64?
        var links = ""
        /// From the bootstrap server, when there is one.
        var account: LwM2MServerAccount?
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            // The device set follows the registry: reload on any change.
            let current = try? await registry.revision()
            if current == nil || current != revision, let objects = try? await loadObjects() {
                revision = current
                links = objects.links
                try? await handler.eventLoop.submit { handler.value.objects = objects }.get()
            }
            do {
                if let registered = location {
                    let triggered = updateTriggered.exchange(false, ordering: .relaxed)
                    if links != sentLinks || triggered || ContinuousClock.now >= nextUpdate {
                        let server = try await serverAddress(account)
                        // A name that now resolves elsewhere: the new address is the server.
                        try? await handler.eventLoop.submit { handler.value.trust(server: server) }.get()
                        try await update(endpoint, server: server, location: registered, links: links != sentLinks ? links : nil)
                        // The server is there and still knows the registration: held observations resume.
                        try? await handler.eventLoop.submit { handler.value.serverReachable() }.get()
                        sentLinks = links
                        nextUpdate = ContinuousClock.now + (account?.lifetime ?? configuration.lifetime) / 2
                    }
                } else {
                    if configuration.bootstrapHost != nil, account == nil {
                        account = try await bootstrap(endpoint, handler: handler)
                    }
                    let server = try await serverAddress(account)
                    try? await handler.eventLoop.submit {
                        handler.value.trust(server: server)
                        handler.value.dropObservations()
                    }.get()
                    location = try await register(endpoint, server: server, links: links, account: account)
                    sentLinks = links
                    nextUpdate = ContinuousClock.now + (account?.lifetime ?? configuration.lifetime) / 2
                    backoff = .seconds(1)
                    metrics.lwm2mClientRegistered(true)
                }
            } catch RegistrationError.notRegistered {
                logger.warning("LwM2M server does not know this registration any more: registering again")
                location = nil
                metrics.lwm2mClientRegistered(false)
                continue
            } catch {
                logger.warning(
                    "LwM2M server unreachable or refused", metadata: ["error": "\(error)", "retry_in": "\(backoff)"])
                location = nil
                // A server that cannot be reached or refuses: bootstrap again (Core §6.1, §6.2.1).
                account = nil
                metrics.lwm2mClientRegistered(false)
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, configuration.maximumBackoff)
                continue
            }
            try? await Task.sleep(for: .milliseconds(500))
        }
        if let location, let server = try? await serverAddress(account) {
            await deregister(endpoint, server: server, location: location)
        }
    }

    private func loadObjects() async throws -> LwM2MClientObjects {
        let devices = try await registry.allDevices().filter(\.enabled)
        var objectIds: [String: UInt16] = [:]
        for device in devices { objectIds[device.id] = mapping.object(deviceType: device.type).objectId }
        let instances = try await registry.lwm2mClientInstances(objects: objectIds)
        return LwM2MClientObjects(devices: devices.compactMap { device in
            instances[device.id].map {
                LwM2MClientInstance(
                    deviceId: device.id, deviceName: device.name, deviceType: device.type,
                    object: mapping.object(deviceType: device.type), instanceId: $0)
            }
        })
    }

    /// The bootstrapped server, or LWM2M_CLIENT_SERVER_URI's.
    private func serverAddress(_ account: LwM2MServerAccount?) async throws -> SocketAddress {
        try await Self.resolve(account?.host ?? configuration.serverHost, account?.port ?? configuration.serverPort)
    }

    /// Name resolution blocks, so it runs on NIO's thread pool.
    private static func resolve(_ host: String, _ port: Int) async throws -> SocketAddress {
        try await NIOThreadPool.singleton.runIfActive { try SocketAddress.makeAddressResolvingHost(host, port: port) }
    }

    // MARK: Bootstrap interface (Core §6.1)

    /// Bootstrap-Request, then the bootstrap server's Deletes and Writes of
    /// Security and Server, until its Bootstrap-Finish (at most a minute).
    private func bootstrap(_ endpoint: CoAPEndpoint, handler: NIOLoopBound<LwM2MClientHandler>) async throws -> LwM2MServerAccount {
        guard let host = configuration.bootstrapHost else { throw RegistrationError.refused(.badRequest, "no bootstrap server") }
        let (outcomes, outcome) = AsyncStream<Result<LwM2MServerAccount, LwM2MContentError>>.makeStream()
        try await handler.eventLoop.submit {
            handler.value.bootstrap = LwM2MBootstrapSession(finished: { result in
                outcome.yield(result)
                outcome.finish()
            })
        }.get()
        defer { handler.eventLoop.execute { handler.value.bootstrap = nil } }
        let server = try await Self.resolve(host, configuration.bootstrapPort)
        try await handler.eventLoop.submit { handler.value.trust(bootstrapServer: server) }.get()
        var message = CoAPMessage(type: .confirmable, code: .post, messageId: 0)
        message.setURI(path: ["bs"], query: ["ep=\(configuration.endpointName)"])
        let response = try await endpoint.request(message, to: server, timeout: configuration.requestTimeout).get()
        guard response.code == .changed else { throw RegistrationError.refused(response.code, String(buffer: response.payload)) }
        logger.info("LwM2M bootstrap requested", metadata: ["bootstrap_server": "\(server)"])
        let finished = await withTaskGroup(of: Result<LwM2MServerAccount, LwM2MContentError>?.self) { group in
            group.addTask {
                for await result in outcomes { return result }
                return nil
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(60))
                return nil
            }
            let first = await group.next() ?? nil
            outcome.finish()
            group.cancelAll()
            return first
        }
        switch finished {
        case .success(let account)?:
            logger.info("LwM2M client bootstrapped", metadata: ["server": "\(account.host):\(account.port)", "short_server_id": "\(account.shortServerId)"])
            return account
        case .failure(let error)?:
            throw error
        case nil:
            throw RegistrationError.refused(.gatewayTimeout, "no Bootstrap-Finish within 60 s")
        }
    }

    // MARK: Registration interface (Core §6.2)

    private func register(_ endpoint: CoAPEndpoint, server: SocketAddress, links: String, account: LwM2MServerAccount?) async throws -> [String] {
        var message = CoAPMessage(type: .confirmable, code: .post, messageId: 0, payload: ByteBuffer(string: links))
        message.setURI(path: ["rd"], query: [
            "ep=\(configuration.endpointName)", "lt=\((account?.lifetime ?? configuration.lifetime).components.seconds)",
            "lwm2m=\(configuration.version)", "b=\(account?.binding ?? configuration.binding)",
        ])
        message.setUInt(.contentFormat, CoRELinkFormat.contentFormat)
        let response = try await endpoint.request(message, to: server, timeout: configuration.requestTimeout).get()
        guard response.code == .created else { throw RegistrationError.refused(response.code, String(buffer: response.payload)) }
        let location = response.options(.locationPath).map(\.stringValue)
        guard !location.isEmpty else { throw RegistrationError.refused(response.code, "2.01 without Location-Path") }
        logger.info(
            "LwM2M client registered",
            metadata: ["location": "/\(location.joined(separator: "/"))", "server": "\(server)", "links": "\(links)"])
        return location
    }

    private func update(_ endpoint: CoAPEndpoint, server: SocketAddress, location: [String], links: String?) async throws {
        var message = CoAPMessage(type: .confirmable, code: .post, messageId: 0, payload: ByteBuffer(string: links ?? ""))
        message.setURI(path: location)
        if links != nil { message.setUInt(.contentFormat, CoRELinkFormat.contentFormat) }
        let response = try await endpoint.request(message, to: server, timeout: configuration.requestTimeout).get()
        if response.code == .notFound { throw RegistrationError.notRegistered }
        guard response.code == .changed else { throw RegistrationError.refused(response.code, String(buffer: response.payload)) }
        logger.info("LwM2M client updated", metadata: ["location": "/\(location.joined(separator: "/"))", "links": "\(links ?? "")"])
    }

    private func deregister(_ endpoint: CoAPEndpoint, server: SocketAddress, location: [String]) async {
        var message = CoAPMessage(type: .confirmable, code: .delete, messageId: 0)
        message.setURI(path: location)
        do {
            let response = try await endpoint.request(message, to: server, timeout: min(configuration.requestTimeout, .seconds(5))).get()
            logger.info("LwM2M client de-registered", metadata: ["code": "\(response.code)"])
        } catch {
            logger.warning("LwM2M client de-registration not answered", metadata: ["error": "\(error)"])
        }
    }
}
