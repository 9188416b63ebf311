import NIOSSL

/// MQTT over TLS (MQTT_SSL_ENABLED): the server certificate chain and key,
/// and optionally a CA that client certificates must chain to (mutual TLS).
package struct MQTTTLSConfiguration: Sendable {
    /// MQTT_SSL_PORT (0: any free port, logged).
    package var port: Int
    package let context: NIOSSLContext

    /// Loads the PEM files; a file that cannot be read or parsed throws,
    /// naming the variable, so start-up stops with one clear line.
    package init(port: Int, certificateFile: String, keyFile: String, caFile: String?) throws(MQTTTLSError) {
        self.port = port
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificateFile)
        } catch {
            throw MQTTTLSError(variable: "MQTT_SSL_CERT_FILE", value: certificateFile, problem: "not a PEM certificate chain (\(error))")
        }
        guard !chain.isEmpty else {
            throw MQTTTLSError(variable: "MQTT_SSL_CERT_FILE", value: certificateFile, problem: "holds no certificate")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
        } catch {
            throw MQTTTLSError(variable: "MQTT_SSL_KEY_FILE", value: keyFile, problem: "not a PEM private key (\(error))")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        if let caFile {
            // Mutual TLS: a client must present a certificate signed by this CA.
            configuration.trustRoots = .file(caFile)
            configuration.certificateVerification = .noHostnameVerification
        }
        do {
            context = try NIOSSLContext(configuration: configuration)
        } catch {
            throw MQTTTLSError(variable: caFile == nil ? "MQTT_SSL_KEY_FILE" : "MQTT_SSL_CA_FILE", value: caFile ?? keyFile,
                               problem: "TLS set-up failed (\(error))")
        }
    }
}

package struct MQTTTLSError: Error, Sendable {
    package let variable: String
    package let value: String
    package let problem: String
}
