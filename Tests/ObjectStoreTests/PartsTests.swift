import Foundation
import Testing
@testable import ObjectStore

@Suite("Object-store pieces that need no server")
struct PartsTests {
    @Test("endpoints: scheme, Host header without a default port, base path, path-style URLs")
    func endpoint() throws {
        let local = try #require(Endpoint("http://127.0.0.1:5123/"))
        #expect(local.hostHeader == "127.0.0.1:5123")
        #expect(local.url(path: local.path(bucket: "b", key: "a b/c"), query: [("uploads", "")])
            == "http://127.0.0.1:5123/b/a%20b/c?uploads=")
        let aws = try #require(Endpoint("https://s3.eu-west-1.amazonaws.com:443/base"))
        #expect(aws.hostHeader == "s3.eu-west-1.amazonaws.com")
        #expect(aws.path(bucket: "b", key: nil) == "/base/b")
        #expect(Endpoint("s3.amazonaws.com") == nil)
        #expect(Endpoint("ftp://x") == nil)
    }

    @Test("the XML scan finds flat elements, decodes entities and does not confuse Key with KeyMarker")
    func xmlScan() {
        let xml = XMLScan("""
            <ListBucketResult xmlns="x"><KeyMarker>no</KeyMarker><IsTruncated>true</IsTruncated>
            <Contents><Key>a &amp; b &lt;c&gt; &#233;&#x263A;</Key><ETag>&quot;abc&quot;</ETag><Size>12</Size></Contents>
            <Contents><Key>second</Key><ETag>"def-2"</ETag><Size>3</Size></Contents><NextContinuationToken/></ListBucketResult>
            """)
        #expect(xml.first("IsTruncated") == "true")
        #expect(xml.all("Key") == ["a & b <c> é☺", "second"])
        #expect(xml.blocks("Contents").count == 2)
        #expect(xml.first("NextContinuationToken") == "")
        #expect(xml.first("Missing") == nil)
        #expect(S3Client.unquote(XMLScan(xml.blocks("Contents")[0]).first("ETag") ?? "") == "abc")
    }

    @Test("statuses and codes sort into cases; only server and transport failures are retryable")
    func classification() {
        #expect(S3Error.classify(status: 403, code: "SignatureDoesNotMatch", message: "m", key: "k") == .denied(code: "SignatureDoesNotMatch", message: "m"))
        #expect(S3Error.classify(status: 400, code: "ExpiredToken", message: "m", key: "k") == .denied(code: "ExpiredToken", message: "m"))
        #expect(S3Error.classify(status: 404, code: nil, message: nil, key: "k") == .notFound(key: "k", code: "NotFound"))
        #expect(S3Error.classify(status: 503, code: "SlowDown", message: "m", key: "k") == .server(status: 503, code: "SlowDown", message: "m"))
        #expect(S3Error.classify(status: 429, code: nil, message: nil, key: "k").isRetryable)
        #expect(!S3Error.classify(status: 400, code: "InvalidPart", message: "m", key: "k").isRetryable)
        #expect(!S3Error.denied(code: "AccessDenied", message: "").isRetryable)
        #expect(S3Error.transport(reason: "refused").isRetryable)
        #expect("\(S3Error.denied(code: "SignatureDoesNotMatch", message: "bad"))"
            == "S3 denied the request (SignatureDoesNotMatch): bad; check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
    }

    @Test("credentials describe themselves without the secret or the token")
    func credentialsDescription() {
        let credentials = S3Credentials(accessKeyID: "AKIAEXAMPLE", secretAccessKey: "s3cr3t-value", sessionToken: "tok3n-value")
        #expect("\(credentials)".contains("AKIAEXAMPLE"))
        #expect(!"\(credentials)".contains("s3cr3t-value") && !"\(credentials)".contains("tok3n-value"))
        #expect(S3Location(endpoint: "http://x", region: "", bucket: "b").region == "us-east-1")
    }

    @Test("retry delays double from the base with ±25 % jitter and never exceed 5 s")
    func retryDelays() {
        let policy = S3RetryPolicy(attempts: 10, baseDelay: 0.2)
        for _ in 0..<50 {
            #expect((0.15...0.25).contains(policy.delay(afterAttempt: 1)))
            #expect((0.6...1.0).contains(policy.delay(afterAttempt: 3)))
            #expect(policy.delay(afterAttempt: 12) <= 5)
        }
    }
}
