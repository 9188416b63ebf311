/// A bad configuration value: printed as one line, exit status 2.
struct ConfigurationError: Error, CustomStringConvertible {
    let variable: String
    let value: String
    let allowed: String

    var description: String {
        "invalid configuration: \(variable)='\(value)' is not allowed; expected \(allowed)"
    }
}
