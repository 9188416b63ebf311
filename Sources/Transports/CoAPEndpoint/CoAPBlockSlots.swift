import Synchronization

/// The Block1 transfers (RFC 7959 §2.5) a server holds open, counted over
/// all its endpoints: with one endpoint per event loop the kernel spreads
/// one address's ports over them, so a count per endpoint would let an
/// address hold its share on each. `total` keeps the assembled bodies'
/// memory bounded; `perAddress` keeps one address (a peer that starts
/// uploads and never finishes them) from taking every slot. The lock is
/// taken when a transfer starts and when it ends, not per block.
package final class CoAPBlockSlots: Sendable {
    package enum Refusal: Sendable { case full, perAddress }

    private struct State {
        var open = 0
        var byAddress: [String: Int] = [:]
    }

    package let total: Int
    package let perAddress: Int
    private let state = Mutex(State())

    package init(total: Int, perAddress: Int) {
        self.total = total
        self.perAddress = perAddress
    }

    package convenience init(_ configuration: CoAPEndpointConfiguration) {
        self.init(total: configuration.maxBlockTransfers, perAddress: configuration.maxBlockTransfersPerAddress)
    }

    func take(_ address: String) -> Refusal? {
        state.withLock { state in
            guard state.open < total else { return .full }
            let held = state.byAddress[address, default: 0]
            guard held < perAddress else { return .perAddress }
            state.open += 1
            state.byAddress[address] = held + 1
            return nil
        }
    }

    func give(_ address: String) {
        state.withLock { state in
            guard let held = state.byAddress[address] else { return }
            state.open -= 1
            state.byAddress[address] = held > 1 ? held - 1 : nil
        }
    }

    /// Transfers open now, over every endpoint (for tests).
    package var open: Int { state.withLock { $0.open } }
}
