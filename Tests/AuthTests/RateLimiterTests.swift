import Auth
import Testing

@Suite("Rate limiter")
struct RateLimiterTests {
    @Test("a burst, then the refill rate; devices are independent")
    func tokenBucket() {
        let clock = ManualClock()
        let limiter = RateLimiter(requestsPerSecond: 10, burst: 5, now: { clock.now })
        #expect((0..<5).allSatisfy { _ in limiter.allow("a") })
        #expect(!limiter.allow("a"))
        #expect(limiter.allow("b"))
        clock.advance(.milliseconds(100))
        #expect(limiter.allow("a"))
        #expect(!limiter.allow("a"))
        clock.advance(.seconds(10))
        #expect((0..<5).allSatisfy { _ in limiter.allow("a") })
        #expect(!limiter.allow("a"))
    }

    @Test("idle, full buckets are swept so memory stays bounded")
    func sweep() {
        let clock = ManualClock()
        let limiter = RateLimiter(requestsPerSecond: 100, burst: 100, sweepThreshold: 1000, now: { clock.now })
        for index in 0..<1000 { _ = limiter.allow("device-\(index)") }
        clock.advance(.seconds(5))
        _ = limiter.allow("new")
        #expect(limiter.trackedCount == 1)
    }
}
