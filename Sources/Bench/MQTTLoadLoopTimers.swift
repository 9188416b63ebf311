import NIOCore

/// Keep-alive pings and the end of the idle hold for every `bench mqtt`
/// connection on one event loop, from loop-wide timers instead of timers per
/// connection. NIO cancels a timer by searching the loop's timers linearly,
/// so with two timers per held connection every further connect (whose
/// connect timeout is cancelled when it succeeds) and every disconnect cost
/// time in proportion to the connections already held, and the tool, not
/// the server, set the connect rate of `--idle` runs.
final class MQTTLoadLoopTimers: @unchecked Sendable {
    // @unchecked: everything but `eventLoop` is touched only on `eventLoop`.
    let eventLoop: any EventLoop
    private let keepAlive: TimeAmount?
    private let holdUntil: NIODeadline?
    private var connections: [ObjectIdentifier: MQTTLoadHandler] = [:]
    private var ping: RepeatedTask?
    private var holdEnded = false
    private var holdScheduled = false

    /// `keepAlive`: ping every connection this often; `holdUntil`: idle
    /// runs disconnect every connection then (nil: not an idle run).
    init(eventLoop: any EventLoop, keepAlive: TimeAmount?, holdUntil: NIODeadline?) {
        self.eventLoop = eventLoop
        self.keepAlive = keepAlive
        self.holdUntil = holdUntil
    }

    /// A connection that got its CONNACK.
    func add(_ handler: MQTTLoadHandler) {
        eventLoop.assertInEventLoop()
        if let holdUntil {
            guard !holdEnded, holdUntil > .now() else { return handler.endHold() }
            if !holdScheduled {
                holdScheduled = true
                eventLoop.scheduleTask(deadline: holdUntil) { [self] in endHold() }
            }
        }
        connections[ObjectIdentifier(handler)] = handler
        if ping == nil, let keepAlive {
            ping = eventLoop.scheduleRepeatedTask(initialDelay: keepAlive, delay: keepAlive) { [self] _ in
                for handler in connections.values { handler.sendPing() }
            }
        }
    }

    func remove(_ handler: MQTTLoadHandler) {
        eventLoop.assertInEventLoop()
        guard connections.removeValue(forKey: ObjectIdentifier(handler)) != nil, connections.isEmpty else { return }
        ping?.cancel()
        ping = nil
    }

    private func endHold() {
        holdEnded = true
        for handler in Array(connections.values) { handler.endHold() }
    }
}
