import CMosquitto
import Foundation
import Logging
import Synchronization

/// What libmosquitto reports, as Swift values copied out of its buffers.
/// Called on libmosquitto's network thread, never on an event loop.
package struct MosquittoEvents: Sendable {
    /// CONNACK: 0 accepted, otherwise the return code.
    package var connected: @Sendable (Int32) -> Void
    /// 0 after `disconnect()`, otherwise the error that lost the connection.
    package var disconnected: @Sendable (Int32) -> Void
    /// An incoming PUBLISH: packet identifier, topic and payload bytes.
    /// libmosquitto 2.0 has already queued the PUBACK (facts.md).
    package var message: @Sendable (_ mid: Int32, _ topic: String, _ payload: [UInt8]) -> Void

    package init(
        connected: @escaping @Sendable (Int32) -> Void,
        disconnected: @escaping @Sendable (Int32) -> Void,
        message: @escaping @Sendable (Int32, String, [UInt8]) -> Void
    ) {
        self.connected = connected
        self.disconnected = disconnected
        self.message = message
    }
}

package struct MosquittoError: Error, CustomStringConvertible {
    package let call: String
    package let code: Int32

    package var description: String { "\(call): \(String(cString: mosquitto_strerror(code)))" }
}

/// The one owner of a `struct mosquitto *` (issue 12: the C library stays
/// inside one class). libmosquitto's own thread (`mosquitto_loop_start`)
/// runs the network loop, reconnects with an exponential backoff and calls
/// back into `MosquittoEvents`; publish, disconnect and reconnect are safe
/// to call from any thread (libmosquitto's threaded mode locks them).
package final class MosquittoClient: @unchecked Sendable {
    // @unchecked: the handle is used only through libmosquitto calls that
    // lock internally, and destroyed once in `close()` after the loop stopped.
    private let handle: OpaquePointer
    private let box: Unmanaged<Box>
    private let closed = Atomic<Bool>(false)
    /// Runs pause and resume in the order they were asked for, off every event loop.
    private let control = SerialThread(name: "mosquitto-control")

    /// What the C callbacks reach through their `obj` pointer.
    private final class Box: Sendable {
        let events: MosquittoEvents
        let logger: Logger
        init(events: MosquittoEvents, logger: Logger) {
            self.events = events
            self.logger = logger
        }
    }

    private static let initialized: Bool = {
        mosquitto_lib_init()
        return true
    }()

    package init(
        clientId: String, cleanSession: Bool, events: MosquittoEvents, logger: Logger
    ) throws(MosquittoError) {
        _ = Self.initialized
        let box = Unmanaged.passRetained(Box(events: events, logger: logger))
        guard let handle = mosquitto_new(clientId, cleanSession, box.toOpaque()) else {
            box.release()
            throw MosquittoError(call: "mosquitto_new", code: Int32(MOSQ_ERR_NOMEM.rawValue))
        }
        self.handle = handle
        self.box = box
        // 3.1.1: a session without Clean Session lives until the broker
        // expires it; MQTT 5 would need a Session Expiry Interval as well.
        mosquitto_int_option(handle, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311)
        mosquitto_int_option(handle, MOSQ_OPT_TCP_NODELAY, 1)
        mosquitto_reconnect_delay_set(handle, 1, 30, true)
        mosquitto_connect_callback_set(handle) { _, object, code in
            Unmanaged<Box>.fromOpaque(object!).takeUnretainedValue().events.connected(code)
        }
        mosquitto_disconnect_callback_set(handle) { _, object, code in
            Unmanaged<Box>.fromOpaque(object!).takeUnretainedValue().events.disconnected(code)
        }
        mosquitto_message_callback_set(handle) { _, object, message in
            guard let object, let message, let topic = message.pointee.topic else { return }
            let payload = message.pointee.payload.map {
                [UInt8](UnsafeRawBufferPointer(start: $0, count: Int(message.pointee.payloadlen)))
            } ?? []
            Unmanaged<Box>.fromOpaque(object).takeUnretainedValue().events.message(message.pointee.mid, String(cString: topic), payload)
        }
        mosquitto_log_callback_set(handle) { _, object, level, text in
            guard let object, let text else { return }
            let logger = Unmanaged<Box>.fromOpaque(object).takeUnretainedValue().logger
            if level & (MOSQ_LOG_ERR | MOSQ_LOG_WARNING) != 0 {
                logger.debug("libmosquitto", metadata: ["message": "\(String(cString: text))"])
            }
        }
    }

    package func setCredentials(username: String?, password: String?) throws(MosquittoError) {
        guard let username else { return }
        try check("mosquitto_username_pw_set", mosquitto_username_pw_set(handle, username, password))
    }

    package func setTLS(caFile: String?, certificateFile: String?, keyFile: String?) throws(MosquittoError) {
        try check("mosquitto_tls_set", mosquitto_tls_set(handle, caFile, caFile == nil ? "/etc/ssl/certs" : nil, certificateFile, keyFile, nil))
    }

    /// The first connection attempt. libmosquitto's network thread only
    /// reconnects a client that connected once, so until then the caller
    /// retries this (with a backoff) and starts the thread after it worked.
    package func connect(host: String, port: Int, keepAlive: Int) -> MosquittoError? {
        let code = mosquitto_connect_async(handle, host, Int32(port), Int32(keepAlive))
        return code == MOSQ_ERR_SUCCESS.rawValue ? nil : MosquittoError(call: "mosquitto_connect_async", code: code)
    }

    /// Starts the network thread: it completes the connection, reads,
    /// writes and reconnects with the backoff until `close()`.
    package func startLoop() throws(MosquittoError) {
        try check("mosquitto_loop_start", mosquitto_loop_start(handle))
    }

    package func subscribe(_ filter: String, qos: Int32) throws(MosquittoError) {
        try check("mosquitto_subscribe", mosquitto_subscribe(handle, nil, filter, qos))
    }

    package func publish(_ topic: String, _ payload: [UInt8], qos: Int32) throws(MosquittoError) {
        let code = payload.withUnsafeBytes { bytes in
            mosquitto_publish(handle, nil, topic, Int32(bytes.count), bytes.baseAddress, qos, false)
        }
        try check("mosquitto_publish", code)
    }

    /// Leaves the broker from inside a message callback, on the network
    /// thread, so no further PUBLISH is read and acknowledged. PUBACKs still
    /// queued are dropped with the socket (libmosquitto 2.0.11 does not
    /// flush them), so the broker sends those messages again: the bridge
    /// recognises them by packet identifier (MQTTBridge.received).
    package func disconnectFromCallback() {
        _ = mosquitto_disconnect(handle)
    }

    /// Leaves the broker on purpose; the network thread then ends instead
    /// of reconnecting. Done in order with `resume()` on the control thread.
    package func pause() {
        control.submit { [self] in _ = mosquitto_disconnect(handle) }
    }

    /// Connects again after `pause()`: the ended network thread is joined
    /// (which can take up to its select timeout, hence not on the caller's
    /// thread) and a new one started.
    package func resume() {
        control.submit { [self] in
            _ = mosquitto_loop_stop(handle, false)
            _ = mosquitto_reconnect_async(handle)
            _ = mosquitto_loop_start(handle)
        }
    }

    /// Stops the network thread and frees the handle; once. Blocks.
    package func close() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        control.stop()
        _ = mosquitto_disconnect(handle)
        _ = mosquitto_loop_stop(handle, false)
        mosquitto_destroy(handle)
        box.release()
    }

    private func check(_ call: String, _ code: Int32) throws(MosquittoError) {
        guard code == MOSQ_ERR_SUCCESS.rawValue else { throw MosquittoError(call: call, code: code) }
    }
}

/// One thread that runs submitted work in order, for blocking C calls.
final class SerialThread: Sendable {
    private let work = Mutex<(items: [@Sendable () -> Void], stopped: Bool)>(([], false))
    private let ready = DispatchSemaphore(value: 0)

    init(name: String) {
        let thread = Thread { [self] in
            while true {
                ready.wait()
                let (next, stopped) = work.withLock { state -> ((@Sendable () -> Void)?, Bool) in
                    (state.items.isEmpty ? nil : state.items.removeFirst(), state.stopped)
                }
                if let next { next() } else if stopped { return }
            }
        }
        thread.name = name
        thread.start()
    }

    func submit(_ item: @escaping @Sendable () -> Void) {
        let accepted = work.withLock { state -> Bool in
            guard !state.stopped else { return false }
            state.items.append(item)
            return true
        }
        if accepted { ready.signal() }
    }

    /// Runs what was submitted, then ends the thread; waits for it.
    func stop() {
        let done = DispatchSemaphore(value: 0)
        submit { done.signal() }
        work.withLock { $0.stopped = true }
        ready.signal()
        done.wait()
    }
}
