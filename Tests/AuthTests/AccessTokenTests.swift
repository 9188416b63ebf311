import Auth
import Testing

@Suite("Access tokens")
struct AccessTokenTests {
    @Test("SHA-256 hashing matches the FIPS 180-2 test vectors")
    func hash() {
        #expect(AccessToken.hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(AccessToken.hash("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test("generated tokens: 32 URL-safe characters, all different")
    func generate() {
        let tokens = (0..<1000).map { _ in AccessToken.generate() }
        #expect(Set(tokens).count == tokens.count)
        for token in tokens {
            #expect(token.count == 32)
            #expect(AccessToken.isWellFormed(token))
        }
    }

    @Test("well-formed tokens", arguments: [
        ("A1_TEST_TOKEN", true), ("a.b-c~d", true), ("", false), ("has space", false), ("slash/", false),
        ("ümlaut", false), (String(repeating: "x", count: 128), true), (String(repeating: "x", count: 129), false),
    ])
    func wellFormed(token: String, valid: Bool) {
        #expect(AccessToken.isWellFormed(token) == valid)
    }
}
