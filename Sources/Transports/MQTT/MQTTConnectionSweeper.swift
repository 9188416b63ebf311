import NIOCore
import Synchronization

/// The CONNECT deadline and the keep-alive of every MQTT connection on one
/// event loop, checked by one repeated task instead of timers per connection.
///
/// NIO cancels a scheduled task by searching the loop's timer heap linearly,
/// so a timer per connection made every CONNACK (cancelling the CONNECT
/// deadline) and every disconnect (cancelling the keep-alive) cost time in
/// proportion to the connections held: quadratic over a reconnect storm.
/// Here a connection costs a dictionary insert and remove.
final class MQTTConnectionSweeper: @unchecked Sendable {
    // @unchecked: everything but `eventLoop` is touched only on `eventLoop`.
    /// How often the deadlines are checked: a silent client is closed at most
    /// this much after 1.5 × its keep-alive (MQTT-3.1.2-24).
    static let period = TimeAmount.milliseconds(500)

    let eventLoop: any EventLoop
    private var connections: [UInt64: MQTTConnectionHandler] = [:]
    private var task: RepeatedTask?

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func add(_ handler: MQTTConnectionHandler) {
        eventLoop.assertInEventLoop()
        connections[handler.connectionIdentifier] = handler
        guard task == nil else { return }
        task = eventLoop.scheduleRepeatedTask(initialDelay: Self.period, delay: Self.period) { [self] task in
            sweep(task)
        }
    }

    func remove(_ handler: MQTTConnectionHandler) {
        eventLoop.assertInEventLoop()
        connections[handler.connectionIdentifier] = nil
    }

    private func sweep(_ repeated: RepeatedTask) {
        guard !connections.isEmpty else {
            // Stops itself (from inside the task: no heap search); the next
            // connection starts it again.
            repeated.cancel()
            task = nil
            return
        }
        let now = NIODeadline.now()
        var expired: [MQTTConnectionHandler] = []
        for handler in connections.values where handler.deadlinePassed(now: now) {
            expired.append(handler)
        }
        for handler in expired { handler.deadlineExpired() }
    }
}

/// One sweeper per event loop of the MQTT listener.
final class MQTTConnectionSweepers: Sendable {
    private let sweepers = Mutex<[ObjectIdentifier: MQTTConnectionSweeper]>([:])

    func sweeper(for eventLoop: any EventLoop) -> MQTTConnectionSweeper {
        sweepers.withLock { sweepers in
            if let sweeper = sweepers[ObjectIdentifier(eventLoop)] { return sweeper }
            let sweeper = MQTTConnectionSweeper(eventLoop: eventLoop)
            sweepers[ObjectIdentifier(eventLoop)] = sweeper
            return sweeper
        }
    }
}
