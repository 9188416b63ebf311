import CoAPCodec
import CoAPEndpoint
import Logging
import NIOCore
import ProcessorAPI

/// Notification attributes (Core §5.1.2 in 1.0, §5.1.1 in 1.1): pmin and
/// pmax in seconds, gt, lt and st for numeric values. Set with
/// Write-Attributes on an object, instance or resource; a resource's own
/// attributes win over its instance's, which win over its object's.
package struct LwM2MNotificationAttributes: Sendable, Equatable {
    package var pmin: Int?
    package var pmax: Int?
    package var gt: Double?
    package var lt: Double?
    package var st: Double?

    package var isEmpty: Bool { self == LwM2MNotificationAttributes() }

    /// The attributes of `inner` where set, otherwise these.
    package func overridden(by inner: LwM2MNotificationAttributes?) -> LwM2MNotificationAttributes {
        guard let inner else { return self }
        return LwM2MNotificationAttributes(
            pmin: inner.pmin ?? pmin, pmax: inner.pmax ?? pmax, gt: inner.gt ?? gt, lt: inner.lt ?? lt, st: inner.st ?? st)
    }

    var linkParameters: [(name: String, value: String)] {
        var parameters: [(name: String, value: String)] = []
        if let pmin { parameters.append(("pmin", String(pmin))) }
        if let pmax { parameters.append(("pmax", String(pmax))) }
        if let gt { parameters.append(("gt", LwM2MValue.number(gt))) }
        if let lt { parameters.append(("lt", LwM2MValue.number(lt))) }
        if let st { parameters.append(("st", LwM2MValue.number(st))) }
        return parameters
    }

    /// Applies a Write-Attributes query (`pmin=10&pmax=60&gt=20.5`); a
    /// name without a value removes that attribute (Core §5.1.2). Throws
    /// the reason for 4.00.
    mutating func apply(query: [String], numeric: Bool) throws(LwM2MContentError) {
        for item in query {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0])
            let text = parts.count == 2 ? String(parts[1]) : nil
            switch name {
            case "pmin", "pmax":
                var seconds: Int?
                if let text {
                    guard let value = Int(text), value >= 0 else { throw LwM2MContentError("attribute \(name)", "\(text) is not a whole number of seconds") }
                    seconds = value
                }
                if name == "pmin" { pmin = seconds } else { pmax = seconds }
            case "gt", "lt", "st":
                guard numeric else { throw LwM2MContentError("attribute \(name)", "only numeric resources take it") }
                var number: Double?
                if let text {
                    guard let value = Double(text), value.isFinite, name != "st" || value >= 0 else {
                        throw LwM2MContentError("attribute \(name)", "\(text) is not a number")
                    }
                    number = value
                }
                switch name {
                case "gt": gt = number
                case "lt": lt = number
                default: st = number
                }
            case "epmin", "epmax", "con", "hqmax", "edge":
                continue  // 1.1/1.2 attributes the gateway does not act on; accepted, not stored.
            default:
                throw LwM2MContentError("attribute \(name)", "unknown attribute")
            }
        }
        if let lt, let gt, lt >= gt, st.map({ lt + 2 * $0 >= gt }) ?? false {
            throw LwM2MContentError("attributes", "lt + 2 × st must be below gt")
        }
    }
}

/// One observation by the upstream server (Core §6.4.1).
struct LwM2MClientObservation {
    let path: LwM2MPath
    let accept: UInt32?
    let observation: CoAPObservation
    var lastSent: NIODeadline
    var lastNodes: [LwM2MNode]
    /// A change that waits for pmin.
    var pending = false
    /// The server stopped acknowledging notifications: nothing is sent on
    /// this observation until an Update reaches the server again, and then
    /// the latest value (Core §6.4, Notification Storing, /1/0/6).
    var stored = false
}

extension LwM2MClientHandler {
    /// The attributes that govern `path`: object, then instance, then resource.
    func effectiveAttributes(_ path: LwM2MPath) -> LwM2MNotificationAttributes {
        var result = attributes[LwM2MPath(path.objectId)] ?? LwM2MNotificationAttributes()
        if let instanceId = path.instanceId { result = result.overridden(by: attributes[LwM2MPath(path.objectId, instanceId)]) }
        if let resource = path.resourcePath { result = result.overridden(by: attributes[resource]) }
        return result
    }

    // MARK: Write-Attributes (Core §6.3.4)

    func writeAttributes(_ exchange: CoAPServerExchange, _ path: LwM2MPath) {
        guard path.resourceInstanceId == nil, nodes(at: path) != nil || objects.instance(path) != nil else {
            return answer(exchange, .writeAttributes, CoAPResponse(code: .notFound))
        }
        var updated = attributes[path] ?? LwM2MNotificationAttributes()
        let numeric = path.isResource && (resourceType(path).map { [.integer, .unsigned, .float, .time].contains($0) } ?? false)
        do {
            try updated.apply(query: exchange.request.uriQuery, numeric: numeric)
        } catch {
            return answer(exchange, .writeAttributes, CoAPResponse(code: .badRequest, text: error.description))
        }
        attributes[path] = updated.isEmpty ? nil : updated
        answer(exchange, .writeAttributes, CoAPResponse(code: .changed))
    }

    func resourceType(_ path: LwM2MPath) -> LwM2MResourceType? {
        guard let resourceId = path.resourceId else { return nil }
        if let instance = objects.instance(path) { return instance.object.resource(resourceId)?.type }
        return nodes(at: path)?.first?.value.type
    }

    // MARK: Observe (Core §6.4.1) and notifications

    func observe(_ exchange: CoAPServerExchange, _ path: LwM2MPath) {
        guard let current = nodes(at: path) else { return answer(exchange, .observe, CoAPResponse(code: .notFound)) }
        let first = content(current, path: path, accept: exchange.request.accept)
        guard first.code.isSuccess else { return answer(exchange, .observe, first) }
        let loopBound = NIOLoopBound(self, eventLoop: exchange.eventLoop)
        var key: ObjectIdentifier?
        guard let observation = exchange.acceptObservation(onCancel: { reason in
            guard let key else { return }
            // A CON notification the server never acknowledged: keep the
            // observation for when the server is back (RFC 7641 §4.5 ends
            // it for CoAP; the LwM2M registration outlives it).
            if reason == .unreachable, loopBound.value.observations[key] != nil {
                loopBound.value.serverUnreachable()
            } else {
                loopBound.value.observations[key] = nil
            }
        }) else {
            return answer(exchange, .observe, CoAPResponse(code: .badRequest))
        }
        key = ObjectIdentifier(observation)
        observations[ObjectIdentifier(observation)] = LwM2MClientObservation(
            path: path, accept: exchange.request.accept, observation: observation, lastSent: .now(), lastNodes: current)
        answer(exchange, .observe, first)
        startTick(on: exchange.eventLoop)
    }

    /// Values of these devices changed: notify the observations over them
    /// that the attributes let through, now or once pmin has passed.
    func valuesChanged(_ deviceIds: Set<String>) {
        for (key, var entry) in observations where !entry.stored {
            let deviceId = objects.instance(entry.path)?.deviceId
            guard deviceId.map(deviceIds.contains) ?? (entry.path.isObject && objects.instances(object: entry.path.objectId).contains { deviceIds.contains($0.deviceId) })
            else { continue }
            guard let current = nodes(at: entry.path), current != entry.lastNodes else { continue }
            let attributes = effectiveAttributes(entry.path)
            guard Self.passes(attributes, previous: entry.lastNodes, current: current) else { continue }
            if let pmin = attributes.pmin, NIODeadline.now() - entry.lastSent < .seconds(Int64(pmin)) {
                entry.pending = true
                observations[key] = entry
                continue
            }
            notify(key, &entry, current)
        }
    }

    /// gt, lt and st apply to a single numeric resource (Core §5.1.2): a
    /// notification when the value crosses gt or lt, or moved by st or more.
    /// Without them, any change.
    static func passes(_ attributes: LwM2MNotificationAttributes, previous: [LwM2MNode], current: [LwM2MNode]) -> Bool {
        guard attributes.gt != nil || attributes.lt != nil || attributes.st != nil,
            current.count == 1, previous.count == 1, let new = current[0].value.number, let old = previous[0].value.number
        else { return true }
        if let gt = attributes.gt, (old > gt) != (new > gt) { return true }
        if let lt = attributes.lt, (old < lt) != (new < lt) { return true }
        if let st = attributes.st, abs(new - old) >= st { return true }
        return false
    }

    func notify(_ key: ObjectIdentifier, _ entry: inout LwM2MClientObservation, _ nodes: [LwM2MNode]) {
        entry.lastNodes = nodes
        entry.lastSent = .now()
        entry.pending = false
        observations[key] = entry
        // The endpoint sends a CON now and then (RFC 7641 §4.5), so a server that went away is noticed.
        entry.observation.notify(content(nodes, path: entry.path, accept: entry.accept))
    }

    /// The server did not acknowledge a notification: every observation
    /// (they all go to that server) holds its notifications from now on,
    /// keeping only what the value cache keeps, the latest value, and an
    /// Update is sent at once to find out whether the server is back. If it
    /// answers, `serverReachable` sends each observation its latest value;
    /// if not, the client registers again and the server observes anew.
    func serverUnreachable() {
        var newlyStored = false
        for (key, entry) in observations where !entry.stored {
            observations[key]?.stored = true
            newlyStored = true
        }
        guard newlyStored else { return }
        logger.warning(
            "LwM2M server did not acknowledge a notification: holding notifications until it answers an Update",
            metadata: ["observations": "\(observations.count)"])
        onUpdateTrigger()
    }

    /// An Update was answered: the server is back with this registration.
    /// Each held observation gets the latest value, as a new notification
    /// with its token and the next sequence number.
    func serverReachable() {
        var resumed = 0
        for (key, var entry) in observations where entry.stored {
            guard entry.observation.isActive || entry.observation.resume() else {
                observations[key] = nil
                continue
            }
            entry.stored = false
            if notifyCurrent(key, &entry) { resumed += 1 }
        }
        if resumed > 0 {
            logger.info(
                "LwM2M server answers again: held observations resumed with their latest values", metadata: ["observations": "\(resumed)"])
        }
    }

    /// A new registration starts without observations: the server observes
    /// again what it wants (Core §6.2.1: a Register ends the old session).
    func dropObservations() {
        let ending = observations.values.map(\.observation)
        observations = [:]
        for observation in ending { observation.cancel() }
    }

    func startTick(on loop: any EventLoop) {
        guard tick == nil else { return }
        let bound = NIOLoopBound(self, eventLoop: loop)
        tick = loop.scheduleRepeatedTask(initialDelay: .milliseconds(250), delay: .milliseconds(250)) { _ in bound.value.ticked() }
    }

    /// pmin passed for a held change; pmax passed without one: notify.
    func ticked() {
        let now = NIODeadline.now()
        for (key, var entry) in observations where !entry.stored {
            let attributes = effectiveAttributes(entry.path)
            let since = now - entry.lastSent
            let minimumPassed = since >= .seconds(Int64(attributes.pmin ?? 0))
            let maximumPassed = attributes.pmax.map { $0 > 0 && $0 >= (attributes.pmin ?? 0) && since >= .seconds(Int64($0)) } ?? false
            guard (entry.pending && minimumPassed) || maximumPassed else { continue }
            notifyCurrent(key, &entry)
        }
    }

    /// Notifies the resource's current value; false when its device is
    /// gone, and then 4.04 ends the observation (RFC 7641 §3.2).
    @discardableResult
    func notifyCurrent(_ key: ObjectIdentifier, _ entry: inout LwM2MClientObservation) -> Bool {
        guard let current = nodes(at: entry.path) else {
            entry.observation.notify(CoAPResponse(code: .notFound))
            observations[key] = nil
            return false
        }
        notify(key, &entry, current)
        return true
    }
}

extension LwM2MValue {
    /// The value as a number, for gt/lt/st.
    var number: Double? {
        switch self {
        case .integer(let value), .time(let value): Double(value)
        case .unsigned(let value): Double(value)
        case .float(let value): value
        default: nil
        }
    }
}
