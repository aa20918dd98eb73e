import Foundation
import Testing
@testable import ObjectStore

@Suite("AWS Signature Version 4 for S3")
struct SigV4Tests {
    static let credentials = S3Credentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    /// 20130524T000000Z
    static let exampleDate = Date(timeIntervalSince1970: 1_369_353_600)

    @Test("the S3 docs' GET Object example (virtual-host style, Range: bytes=0-9) signs to f0e8bdb8…")
    func awsGetObjectExample() {
        let signer = SigV4Signer(credentials: Self.credentials, region: "us-east-1")
        let headers = signer.sign(method: "GET", host: "examplebucket.s3.amazonaws.com", path: "/test.txt",
                                  headers: ["Range": "bytes=0-9"], payloadSHA256: S3Client.emptySHA256, date: Self.exampleDate)
        #expect(headers["x-amz-date"] == "20130524T000000Z")
        #expect(headers["host"] == "examplebucket.s3.amazonaws.com")
        #expect(headers["x-amz-content-sha256"] == S3Client.emptySHA256)
        #expect(headers["x-amz-security-token"] == nil)
        #expect(headers["authorization"] == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            + "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            + "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test("the canonical request of the docs' example, line by line")
    func canonicalRequest() {
        let (canonical, signed) = SigV4Signer.canonicalRequest(
            method: "GET", path: "/test.txt", query: [],
            headers: ["host": "examplebucket.s3.amazonaws.com", "range": "bytes=0-9",
                      "x-amz-content-sha256": S3Client.emptySHA256, "x-amz-date": "20130524T000000Z"],
            payloadSHA256: S3Client.emptySHA256)
        #expect(signed == "host;range;x-amz-content-sha256;x-amz-date")
        #expect(canonical == """
            GET
            /test.txt

            host:examplebucket.s3.amazonaws.com
            range:bytes=0-9
            x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            x-amz-date:20130524T000000Z

            host;range;x-amz-content-sha256;x-amz-date
            e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            """)
    }

    @Test("a session token is added and signed; another date or secret changes the signature")
    func sessionTokenAndInputs() {
        var withToken = Self.credentials
        withToken.sessionToken = "token/with+chars"
        let signed = SigV4Signer(credentials: withToken, region: "").sign(
            method: "GET", host: "h", path: "/b/k", payloadSHA256: S3Client.emptySHA256, date: Self.exampleDate)
        #expect(signed["x-amz-security-token"] == "token/with+chars")
        #expect(signed["authorization"]?.contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,") == true)
        #expect(signed["authorization"]?.contains("/us-east-1/s3/aws4_request") == true)
        let base = SigV4Signer(credentials: Self.credentials, region: "us-east-1")
        let a = base.sign(method: "GET", host: "h", path: "/b/k", payloadSHA256: S3Client.emptySHA256, date: Self.exampleDate)
        let b = base.sign(method: "GET", host: "h", path: "/b/k", payloadSHA256: S3Client.emptySHA256, date: Self.exampleDate + 1)
        let c = SigV4Signer(credentials: S3Credentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "other"), region: "us-east-1")
            .sign(method: "GET", host: "h", path: "/b/k", payloadSHA256: S3Client.emptySHA256, date: Self.exampleDate)
        #expect(a["authorization"] != b["authorization"])
        #expect(a["authorization"] != c["authorization"])
        #expect(a["authorization"]?.contains("wJalr") == false)
    }

    @Test("keys keep unreserved characters and '/', everything else becomes uppercase %XX of its UTF-8")
    func uriEncoding() {
        #expect(URIEncoding.encode("a b/ü+c~d_e-f.g", keepSlash: true) == "a%20b/%C3%BC%2Bc~d_e-f.g")
        #expect(URIEncoding.encode("a/b=c&d", keepSlash: false) == "a%2Fb%3Dc%26d")
        #expect(URIEncoding.encode("*'()!", keepSlash: true) == "%2A%27%28%29%21")
    }

    @Test("the canonical query is encoded and sorted by name, with uploads= kept")
    func canonicalQuery() {
        #expect(URIEncoding.canonicalQuery([("uploads", "")]) == "uploads=")
        #expect(URIEncoding.canonicalQuery([("uploadId", "a/b+c"), ("partNumber", "1")]) == "partNumber=1&uploadId=a%2Fb%2Bc")
        #expect(URIEncoding.canonicalQuery([("prefix", "x y/"), ("list-type", "2"), ("continuation-token", "t=")])
            == "continuation-token=t%3D&list-type=2&prefix=x%20y%2F")
    }
}
