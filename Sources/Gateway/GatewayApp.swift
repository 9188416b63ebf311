import Auth
import CoAPTransport
import HTTPSink
import HTTPTransport
import LwM2M
import KafkaSink
import Logging
import Metrics
import MQTTBridgeTransport
import MQTTTransport
import Processor
import ProcessorAPI
import Prometheus
import ServiceLifecycle
import UnixSignals

/// The composition root: builds every module from the configuration and
/// runs them as one ServiceGroup until SIGTERM or SIGINT.
struct GatewayApp {
    let configuration: GatewayConfiguration

    func run() async throws {
        let format = configuration.logFormat
        let level = configuration.logLevel
        LoggingSystem.bootstrap { label in GatewayLogHandler(label: label, level: level, format: format) }
        let logger = Logger(label: "tb-gateway")

        let prometheus = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: prometheus)
        factory.valueHistogramBuckets[GatewayMetrics.Name.batchSize] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000]
        factory.defaultDurationHistogramBuckets = [
            .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
            .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
            .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30),
        ]
        MetricsSystem.bootstrap(factory)
        let metrics = GatewayMetrics(version: TBGateway.version)

        logger.info("tb-gateway starting", metadata: ["version": "\(TBGateway.version)"])

        let registry: DeviceRegistry
        do {
            registry = try DeviceRegistry(directory: configuration.dataDirectory, clientAttributeQuota: configuration.clientAttributeQuota)
        } catch {
            logger.critical("cannot open the device registry", metadata: ["error": "\(error)"])
            throw error
        }
        logger.info("device registry open", metadata: ["path": "\(configuration.dataDirectory)/\(DeviceRegistry.fileName)"])

        let (sink, closeSink, embedded, bootstrap) = try makeSink(metrics: metrics, logger: logger)
        let processor = MessageProcessor(
            configuration: configuration.processor, sink: sink, metrics: metrics,
            logger: Logger(label: "tb-gateway.processor"))
        // With the LwM2M client role, the latest values are kept on the way
        // in (the upstream server reads and observes them); otherwise the
        // transports hand straight to the processor.
        let lastValues = configuration.lwm2mClientEnabled ? LwM2MLastValues() : nil
        let ingest: any MessageIngest = lastValues.map { LwM2MLastValueTap(processor, values: $0) } ?? processor
        let authenticator = DeviceAuthenticator(
            registry: registry, ttl: configuration.authCacheTTL, metrics: metrics,
            failures: AuthFailureThrottle(limit: configuration.authFailuresPerAddress))
        let rateLimiter = configuration.rateLimit.map { RateLimiter(requestsPerSecond: $0.requestsPerSecond, burst: $0.burst) }
        let deviceSessions = DeviceSessions(metrics: metrics)
        let persistentRPC = PersistentRPCService(
            registry: registry, sessions: deviceSessions, ingest: processor, logger: Logger(label: "tb-gateway.rpc"))
        try await persistentRPC.prepare()
        let router = DownlinkRouter(
            sessions: deviceSessions,
            storeShared: { deviceId, values in try await registry.setAttributes(deviceId: deviceId, scope: .shared, values) },
            metrics: metrics, logger: Logger(label: "tb-gateway.downlink"))
        let watcher = RegistryWatcher(registry: registry, authenticator: authenticator, logger: logger)

        var lwm2m: LwM2MServer?
        if configuration.lwm2mEnabled {
            let profiles: LwM2MProfiles
            do {
                profiles = try LwM2MProfiles.load(directory: configuration.dataDirectory)
            } catch {
                logger.critical("cannot read the LwM2M profiles", metadata: ["error": "\(error)"])
                throw error
            }
            lwm2m = LwM2MServer(
                configuration: configuration.lwm2m, registry: registry, models: configuration.lwm2mModels, profiles: profiles,
                ingest: ingest, deviceSessions: deviceSessions, metrics: metrics, logger: Logger(label: "tb-gateway.lwm2m"),
                failures: authenticator.failures)
        }

        // Shutdown runs in reverse order: transports stop taking requests
        // first, the processor drains last.
        var services: [any Service] = [processor, watcher, persistentRPC]
        services.append(MetricsServer.make(
            host: configuration.metricsHost, port: configuration.metricsPort, prometheus: prometheus,
            registry: registry, sink: sink, logger: Logger(label: "tb-gateway.metrics")))
        if let apiKey = configuration.admin.apiKey {
            services.append(AdminServer.make(
                host: configuration.admin.host, port: configuration.admin.port, apiKey: apiKey,
                registry: registry, deviceSessions: deviceSessions, persistentRPC: persistentRPC, lwm2m: lwm2m,
                maxPayloadSize: configuration.http.maxPayloadSize,
                failures: AuthFailureThrottle(limit: configuration.authFailuresPerAddress), metrics: metrics,
                logger: Logger(label: "tb-gateway.admin")))
        } else {
            logger.warning("ADMIN_API_KEY is not set: the admin API does not start")
        }
        if configuration.mqttEnabled {
            services.append(MQTTServer(
                configuration: configuration.mqtt, authenticator: authenticator, registry: registry,
                rateLimiter: rateLimiter, ingest: ingest, deviceSessions: deviceSessions, metrics: metrics,
                logger: Logger(label: "tb-gateway.mqtt")))
        }
        if let lwm2m { services.append(lwm2m) }
        if configuration.mqttBridgeEnabled {
            services.append(MQTTBridge(
                configuration: configuration.mqttBridge, registry: registry, ingest: ingest, deviceSessions: deviceSessions,
                metrics: metrics, logger: Logger(label: "tb-gateway.mqtt-bridge")))
        }
        if let lastValues {
            let downlink = LwM2MClientDownlink(
                writeShared: { deviceId, values in
                    guard (try? await registry.setAttributes(deviceId: deviceId, scope: .shared, values)) != nil else { return false }
                    deviceSessions.deliver(.sharedAttributesUpdated(json: DeviceRegistry.jsonObject(values)), to: deviceId)
                    return true
                },
                rpc: { deviceId, method, params in
                    deviceSessions.deliver(.rpcRequest(id: deviceSessions.nextRPCIdentifier(), method: method, params: params), to: deviceId)
                })
            services.append(LwM2MClient(
                configuration: configuration.lwm2mClient, registry: registry, mapping: configuration.lwm2mClientMapping,
                models: configuration.lwm2mModels,
                values: lastValues, downlink: downlink, metrics: metrics, logger: Logger(label: "tb-gateway.lwm2m-client")))
        }
        if configuration.coapEnabled {
            let api = CoAPDeviceAPI(
                configuration: configuration.coap, authenticator: authenticator, registry: registry,
                rateLimiter: rateLimiter, ingest: ingest, deviceSessions: deviceSessions, metrics: metrics,
                logger: Logger(label: "tb-gateway.coap"))
            services.append(CoAPDeviceServer(api: api))
        }
        if configuration.httpEnabled {
            let api = DeviceAPI(
                configuration: configuration.http, authenticator: authenticator, registry: registry,
                rateLimiter: rateLimiter, ingest: ingest, deviceSessions: deviceSessions, metrics: metrics,
                logger: Logger(label: "tb-gateway.http"))
            services.append(HTTPDeviceServer(api: api))
        }

        var commands: KafkaCommandConsumer?
        if let bootstrap {
            do {
                commands = try KafkaCommandConsumer(
                    bootstrapServers: bootstrap, topic: configuration.kafka.topics.commands, groupId: configuration.commandsGroupId,
                    logger: Logger(label: "tb-gateway.commands")
                ) { record in await router.route(record.value, timestamp: record.timestamp) }
            } catch {
                logger.critical("cannot start the command consumer", metadata: ["error": "\(error)"])
                throw error
            }
        }

        let group = ServiceGroup(
            configuration: .init(
                // A service that fails (a port in use) shuts the others down
                // gracefully, so the processor drains and the process exits
                // with the error instead of waiting forever.
                services: services.map {
                    .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup)
                },
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        do {
            try await group.run()
        } catch {
            logger.critical("tb-gateway stopped on an error", metadata: ["error": "\(error)"])
            commands?.close()
            await closeSink()
            throw error
        }
        commands?.close()
        await closeSink()
        _ = embedded
        logger.info("tb-gateway stopped")
    }

    /// The configured sink and how to close it; keeps the embedded broker alive.
    private func makeSink(
        metrics: GatewayMetrics,
        logger: Logger
    ) throws -> (any MessageSink, @Sendable () async -> Void, EmbeddedKafkaCluster?, String?) {
        guard configuration.kafkaEnabled else {
            let sink = HTTPSink(configuration: configuration.httpSink, metrics: metrics, logger: Logger(label: "tb-gateway.http-sink"))
            logger.info("sink: HTTP backend", metadata: ["url": "\(configuration.httpSink.baseURL)"])
            return (sink, { await sink.shutdown() }, nil, nil)
        }
        var kafka = configuration.kafka
        var embedded: EmbeddedKafkaCluster?
        if configuration.kafkaEmbedded {
            let cluster = try EmbeddedKafkaCluster(topics: kafka.topics.all, partitions: 4)
            kafka.bootstrapServers = cluster.bootstrapServers
            kafka.extraProperties.merge(EmbeddedKafkaCluster.producerProperties) { configured, _ in configured }
            embedded = cluster
            logger.warning(
                "embedded Kafka broker started: development only, data kept in memory and only the most recent records (at most 100,000 or 5 MiB per partition)",
                metadata: ["bootstrap_servers": "\(cluster.bootstrapServers)"]
            )
        }
        let sink = try KafkaSink(
            configuration: kafka, enqueueTimeout: configuration.processor.batchTimeout, metrics: metrics,
            logger: Logger(label: "tb-gateway.kafka"))
        logger.info("sink: Kafka", metadata: ["bootstrap_servers": "\(kafka.bootstrapServers)"])
        return (sink, { sink.close() }, embedded, kafka.bootstrapServers)
    }
}
