/// CoRE Link Format, Content-Format 40 (RFC 6690): `</1/0>,</3/0>;ver=1.1`,
/// as LwM2M uses it in Register, Update and Discover (Core §5.3.1, §5.4.2).
package struct CoRELink: Sendable, Equatable {
    package var target: String
    /// Parameters in order; a parameter without a value has "".
    package var parameters: [(name: String, value: String)]

    package init(_ target: String, _ parameters: [(name: String, value: String)] = []) {
        self.target = target
        self.parameters = parameters
    }

    package func parameter(_ name: String) -> String? {
        parameters.first { $0.name == name }?.value
    }

    package static func == (lhs: CoRELink, rhs: CoRELink) -> Bool {
        lhs.target == rhs.target && lhs.parameters.elementsEqual(rhs.parameters) { $0.name == $1.name && $0.value == $1.value }
    }
}

package enum CoRELinkFormat {
    package static let contentFormat: UInt32 = 40

    static func failure(_ reason: String) -> LwM2MContentError { LwM2MContentError("link format", reason) }

    /// Parses a link list. Commas and semicolons inside quoted values are kept.
    package static func decode(_ text: String) throws(LwM2MContentError) -> [CoRELink] {
        var links: [CoRELink] = []
        var characters = Substring(text)
        func skipSpace() { while characters.first == " " || characters.first == "\n" || characters.first == "\r" { characters.removeFirst() } }
        skipSpace()
        while !characters.isEmpty {
            guard characters.first == "<", let close = characters.firstIndex(of: ">") else { throw failure("a link must start with <target>") }
            let target = String(characters[characters.index(after: characters.startIndex)..<close])
            characters = characters[characters.index(after: close)...]
            var link = CoRELink(target)
            while characters.first == ";" {
                characters.removeFirst()
                var name = ""
                while let next = characters.first, next != "=", next != ";", next != "," {
                    name.append(next)
                    characters.removeFirst()
                }
                var value = ""
                if characters.first == "=" {
                    characters.removeFirst()
                    if characters.first == "\"" {
                        characters.removeFirst()
                        guard let end = characters.firstIndex(of: "\"") else { throw failure("unterminated quoted value") }
                        value = String(characters[..<end])
                        characters = characters[characters.index(after: end)...]
                    } else {
                        while let next = characters.first, next != ";", next != "," {
                            value.append(next)
                            characters.removeFirst()
                        }
                    }
                }
                guard !name.isEmpty else { throw failure("empty parameter name") }
                link.parameters.append((name.trimmingSpaces(), value))
            }
            links.append(link)
            skipSpace()
            guard characters.isEmpty || characters.first == "," else { throw failure("expected ',' between links") }
            if !characters.isEmpty { characters.removeFirst() }
            skipSpace()
        }
        return links
    }

    package static func encode(_ links: [CoRELink]) -> String {
        links.map { link in
            "<\(link.target)>" + link.parameters.map { parameter in
                if parameter.value.isEmpty { return ";\(parameter.name)" }
                let quote = parameter.value.contains(where: { ",; \"".contains($0) }) || parameter.name == "rt"
                return ";\(parameter.name)=" + (quote ? "\"\(parameter.value)\"" : parameter.value)
            }.joined()
        }.joined(separator: ",")
    }
}

extension String {
    func trimmingSpaces() -> String {
        var view = Substring(self)
        while view.first == " " { view.removeFirst() }
        while view.last == " " { view.removeLast() }
        return String(view)
    }
}
