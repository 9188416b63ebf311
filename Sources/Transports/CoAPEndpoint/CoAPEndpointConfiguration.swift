import NIOCore

/// Settings of one CoAP endpoint. The transmission parameters default to
/// RFC 7252 §4.8; the others bound what one endpoint keeps in memory.
package struct CoAPEndpointConfiguration: Sendable {
    package var host: String
    package var port: Int
    /// SO_RCVBUF asked for (COAP_RECEIVE_BUFFER_SIZE). The kernel's default
    /// (208 KiB) overflows on a burst of a few hundred requests, and each
    /// lost CON costs its client an ACK_TIMEOUT before it retransmits.
    package var receiveBufferSize: Int
    /// Largest datagram read; a request that fills it is treated as
    /// truncated and answered 4.13 with Size1 (RFC 7959 §2.9.3), so the
    /// client can switch to Block1.
    package var maxDatagramSize: Int
    /// Datagrams read per system call (recvmmsg).
    package var datagramsPerRead: Int

    // RFC 7252 §4.8 transmission parameters.
    package var ackTimeout: Duration
    package var ackRandomFactor: Double
    package var maxRetransmit: Int
    /// Outstanding CONs this endpoint sends one peer at a time (§4.7);
    /// more wait in a per-peer queue of `maxQueuedPerPeer`.
    package var nstart: Int
    package var maxQueuedPerPeer: Int
    /// EXCHANGE_LIFETIME (§4.8.2): how long a CON's message id is remembered for duplicate detection.
    package var exchangeLifetime: Duration
    /// NON_LIFETIME (§4.8.2): the same for NON.
    package var nonLifetime: Duration
    /// Most remembered message ids; past it the oldest are forgotten first.
    package var maxDeduplicationEntries: Int

    /// A CON request not answered within this gets an empty ACK, and its
    /// response follows as a separate CON (§5.2.2). Below ACK_TIMEOUT, so
    /// the client does not retransmit in the meantime.
    package var piggybackTimeout: Duration
    /// When set, a request the application has not answered within this
    /// bound is handed to `CoAPRequestHandler.exchangeTimedOut` (one timer
    /// for all exchanges, not one per request).
    package var responseTimeout: Duration?
    /// Largest request body assembled from Block1 (RFC 7959 §2.5); past it 4.13.
    package var maxBodySize: Int
    /// Block size of Block2 responses and the largest Block1 block asked for.
    package var preferredBlockSize: Int
    /// Block1 transfers in progress at once, and how long one may pause.
    package var maxBlockTransfers: Int
    /// Of those, how many one IP address may hold: a peer that opens
    /// transfers and never finishes them cannot take every slot.
    package var maxBlockTransfersPerAddress: Int
    package var blockTransferLifetime: Duration

    /// A notification is sent confirmable at least every this many (RFC 7641
    /// §4.5: now and then a CON finds out whether the observer is still there).
    package var confirmableNotificationInterval: Int
    /// How long a client request waits for its (possibly separate) response.
    package var clientResponseTimeout: Duration

    package init(
        host: String = "0.0.0.0",
        port: Int = 5683,
        receiveBufferSize: Int = 4 << 20,
        maxDatagramSize: Int = 4096,
        datagramsPerRead: Int = 16,
        ackTimeout: Duration = .seconds(2),
        ackRandomFactor: Double = 1.5,
        maxRetransmit: Int = 4,
        nstart: Int = 1,
        maxQueuedPerPeer: Int = 64,
        exchangeLifetime: Duration = .seconds(247),
        nonLifetime: Duration = .seconds(145),
        maxDeduplicationEntries: Int = 200_000,
        piggybackTimeout: Duration = .milliseconds(1000),
        maxBodySize: Int = 65536,
        preferredBlockSize: Int = 1024,
        maxBlockTransfers: Int = 1024,
        maxBlockTransfersPerAddress: Int = 16,
        blockTransferLifetime: Duration = .seconds(60),
        confirmableNotificationInterval: Int = 10,
        clientResponseTimeout: Duration = .seconds(30)
    ) {
        self.host = host
        self.port = port
        self.receiveBufferSize = receiveBufferSize
        self.maxDatagramSize = maxDatagramSize
        self.datagramsPerRead = datagramsPerRead
        self.ackTimeout = ackTimeout
        self.ackRandomFactor = ackRandomFactor
        self.maxRetransmit = maxRetransmit
        self.nstart = nstart
        self.maxQueuedPerPeer = maxQueuedPerPeer
        self.exchangeLifetime = exchangeLifetime
        self.nonLifetime = nonLifetime
        self.maxDeduplicationEntries = maxDeduplicationEntries
        self.piggybackTimeout = piggybackTimeout
        self.maxBodySize = maxBodySize
        self.preferredBlockSize = preferredBlockSize
        self.maxBlockTransfers = maxBlockTransfers
        self.maxBlockTransfersPerAddress = maxBlockTransfersPerAddress
        self.blockTransferLifetime = blockTransferLifetime
        self.confirmableNotificationInterval = confirmableNotificationInterval
        self.clientResponseTimeout = clientResponseTimeout
    }
}
