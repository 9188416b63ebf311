import CoAPEndpoint

/// The CoAP device API's settings.
package struct CoAPTransportConfiguration: Sendable {
    /// COAP_BIND_ADDRESS, COAP_BIND_PORT (0 picks a free port, logged at
    /// start), COAP_RECEIVE_BUFFER_SIZE and the RFC 7252 parameters.
    package var endpoint: CoAPEndpointConfiguration
    /// MAX_PAYLOAD_SIZE: a larger body (whole or assembled from Block1) gets 4.13.
    package var maxPayloadSize: Int {
        get { endpoint.maxBodySize }
        set { endpoint.maxBodySize = newValue }
    }
    /// COAP_ACK_TIMEOUT: how long a request waits for the sink's verdict
    /// before it is answered 5.03 (the record may still arrive later). The
    /// wait past `endpoint.piggybackTimeout` happens after an empty ACK, so
    /// the client does not retransmit meanwhile.
    package var ackTimeout: Duration {
        get { endpoint.responseTimeout ?? .seconds(10) }
        set { endpoint.responseTimeout = newValue }
    }
    /// COAP_SESSION_TIMEOUT: a device without an observation counts as
    /// connected for this long after its last request.
    package var sessionTimeout: Duration

    package init(endpoint: CoAPEndpointConfiguration = CoAPEndpointConfiguration(), ackTimeout: Duration = .seconds(10), sessionTimeout: Duration = .seconds(300)) {
        self.endpoint = endpoint
        self.endpoint.responseTimeout = ackTimeout
        self.sessionTimeout = sessionTimeout
    }
}
