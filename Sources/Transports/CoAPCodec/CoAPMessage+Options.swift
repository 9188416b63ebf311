import NIOCore

/// Reading and setting the options a server and a client look at.
extension CoAPMessage {
    package func options(_ number: CoAPOptionNumber) -> some Sequence<CoAPOption> {
        options.lazy.filter { $0.number == number }
    }

    package func firstOption(_ number: CoAPOptionNumber) -> CoAPOption? {
        options.first { $0.number == number }
    }

    package func hasOption(_ number: CoAPOptionNumber) -> Bool {
        options.contains { $0.number == number }
    }

    /// Replaces every instance of `number` with `option` (nil removes them).
    package mutating func setOption(_ number: CoAPOptionNumber, _ option: CoAPOption?) {
        options.removeAll { $0.number == number }
        if let option { options.append(option) }
    }

    package mutating func setUInt(_ number: CoAPOptionNumber, _ value: UInt32?) {
        setOption(number, value.map { CoAPOption(number, uint: $0) })
    }

    /// Uri-Path segments in order (§5.10.1).
    package var uriPath: [String] { strings(.uriPath) }

    package var uriQuery: [String] { strings(.uriQuery) }

    /// The values of a repeatable string option, in one allocation (a lazy
    /// filter's map grows its array one doubling at a time).
    private func strings(_ number: CoAPOptionNumber) -> [String] {
        var strings: [String] = []
        for option in options where option.number == number {
            // The option count bounds the values: one allocation, made only if there is one.
            if strings.isEmpty { strings.reserveCapacity(options.count) }
            strings.append(option.stringValue)
        }
        return strings
    }

    /// `/a/b?x=1&y=2`, for logs and for keying block-wise transfers.
    package var uriString: String {
        let path = "/" + uriPath.joined(separator: "/")
        let query = uriQuery
        return query.isEmpty ? path : path + "?" + query.joined(separator: "&")
    }

    package mutating func setURI(path: [String], query: [String] = []) {
        options.removeAll { $0.number == .uriPath || $0.number == .uriQuery }
        options += path.map { CoAPOption(.uriPath, string: $0) }
        options += query.map { CoAPOption(.uriQuery, string: $0) }
    }

    package var contentFormat: UInt32? {
        get { firstOption(.contentFormat)?.uintValue }
        set { setUInt(.contentFormat, newValue) }
    }

    package var accept: UInt32? { firstOption(.accept)?.uintValue }

    /// RFC 7641 §2: 0 registers, 1 deregisters; in a notification, the sequence number.
    package var observe: UInt32? {
        get { firstOption(.observe)?.uintValue }
        set { setUInt(.observe, newValue) }
    }

    package var maxAge: UInt32? {
        get { firstOption(.maxAge)?.uintValue }
        set { setUInt(.maxAge, newValue) }
    }

    package var block1: CoAPBlockOption? {
        get { firstOption(.block1).flatMap(CoAPBlockOption.init) }
        set { setOption(.block1, newValue?.option(.block1)) }
    }

    package var block2: CoAPBlockOption? {
        get { firstOption(.block2).flatMap(CoAPBlockOption.init) }
        set { setOption(.block2, newValue?.option(.block2)) }
    }

    package var size1: UInt32? {
        get { firstOption(.size1)?.uintValue }
        set { setUInt(.size1, newValue) }
    }

    package var size2: UInt32? {
        get { firstOption(.size2)?.uintValue }
        set { setUInt(.size2, newValue) }
    }

    /// The first critical option this stack does not know, if any (§5.4.1),
    /// or a second occurrence of a critical option defined only once: §5.4.5
    /// treats each supernumerary occurrence like an unrecognized option.
    /// Options arrive sorted by number, so a repeat follows its first.
    package var unrecognizedCriticalOption: CoAPOptionNumber? {
        var previous: CoAPOptionNumber?
        for option in options {
            let number = option.number
            if number.isCritical {
                if !CoAPOptionNumber.known.contains(number) { return number }
                if number == previous, !CoAPOptionNumber.repeatable.contains(number) { return number }
            }
            previous = number
        }
        return nil
    }
}
