import Crypto
import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import SwiftASN1
import Synchronization
import Testing
import X509

@testable import Providers

/// A CA and a server certificate for 127.0.0.1, made at test time, like the emulator's.
struct TestTLSAuthority {
    let caPEM: String
    let serverCertificatePEM: String
    let serverKeyPEM: String

    static func make() throws -> TestTLSAuthority {
        let caKey = P256.Signing.PrivateKey()
        let serverKey = P256.Signing.PrivateKey()
        let caName = try DistinguishedName { CommonName("Kiln Test CA") }
        let serverName = try DistinguishedName { CommonName("127.0.0.1") }
        let now = Date()
        let ca = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: Certificate.PublicKey(caKey.publicKey),
            notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(3600),
            issuer: caName, subject: caName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: Certificate.PrivateKey(caKey)
        )
        let server = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(),
            publicKey: Certificate.PublicKey(serverKey.publicKey),
            notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(3600),
            issuer: caName, subject: serverName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                SubjectAlternativeNames([
                    .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1])), .dnsName("localhost")
                ])
                try ExtendedKeyUsage([.serverAuth])
            },
            issuerPrivateKey: Certificate.PrivateKey(caKey)
        )
        return TestTLSAuthority(
            caPEM: try ca.serializeAsPEM().pemString, serverCertificatePEM: try server.serializeAsPEM().pemString,
            serverKeyPEM: serverKey.pemRepresentation)
    }
}

/// The request heads a test server saw (a class, so handlers and the test share one Mutex).
final class SeenRequests: Sendable {
    private let heads = Mutex<[String]>([])
    func append(_ head: String) { heads.withLock { $0.append(head) } }
    var all: [String] { heads.withLock { $0 } }
}

/// Answers every request on a connection with one fixed HTTP response, and records the
/// request heads it saw.
final class FixedHTTPResponder: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked: each instance serves one channel and is used only on its event loop.
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private var received = ""
    let seen: SeenRequests
    let response: String

    init(response: String, seen: SeenRequests) {
        self.response = response
        self.seen = seen
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        received += buffer.readString(length: buffer.readableBytes) ?? ""
        guard let end = received.range(of: "\r\n\r\n") else { return }
        let head = String(received[..<end.lowerBound])
        received = ""
        seen.append(head)
        let out = context.channel.allocator.buffer(string: response)
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
    }
}

final class TLSTestServer: Sendable {
    let channel: any Channel
    let seen = SeenRequests()
    var port: Int { channel.localAddress?.port ?? 0 }

    init(authority: TestTLSAuthority, response: String) async throws {
        let tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: [
                .certificate(try NIOSSLCertificate(bytes: Array(authority.serverCertificatePEM.utf8), format: .pem))
            ],
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(authority.serverKeyPEM.utf8), format: .pem))
        )
        let context = try NIOSSLContext(configuration: tls)
        let seen = self.seen
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    try child.pipeline.syncOperations.addHandler(FixedHTTPResponder(response: response, seen: seen))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    func stop() async throws { try await channel.close() }
}

@Suite struct AsyncHTTPClientTransportTLSTests {
    let response =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nx-ms-request-id: tls-req-1\r\nContent-Length: 17\r\n\r\n{\"status\":\"fine\"}"

    @Test func anExtraCATrustsTheEmulatorsCertificate() async throws {
        let authority = try TestTLSAuthority.make()
        let caPath = FileManager.default.temporaryDirectory.appendingPathComponent(
            "kiln-test-ca-\(UUID().uuidString).pem"
        ).path
        try authority.caPEM.write(toFile: caPath, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: caPath) }
        let server = try await TLSTestServer(authority: authority, response: response)
        let transport = try AsyncHTTPClientTransport(configuration: .init(extraCAFile: caPath))
        let result: Result<AzureHTTPResponse, any Error>
        do {
            let url = URL(
                string: "https://127.0.0.1:\(server.port)/subscriptions/s/resourceGroups/rg?api-version=2021-04-01")!
            result = .success(
                try await transport.send(
                    AzureHTTPRequest(
                        method: .get, url: url, headers: ["Authorization": "Bearer t"], timeout: .seconds(20))))
        } catch {
            result = .failure(error)
        }
        try await transport.shutdown()
        try await server.stop()

        let answer = try result.get()
        #expect(answer.status == 200)
        #expect(answer.requestID == "tls-req-1")
        #expect(String(decoding: answer.body, as: UTF8.self) == #"{"status":"fine"}"#)
        let head = try #require(server.seen.all.first)
        #expect(head.hasPrefix("GET /subscriptions/s/resourceGroups/rg?api-version=2021-04-01 HTTP/1.1"))
        #expect(head.contains("Authorization: Bearer t"))
    }

    @Test func withoutTheCATheCertificateIsRefused() async throws {
        let authority = try TestTLSAuthority.make()
        let server = try await TLSTestServer(authority: authority, response: response)
        let transport = try AsyncHTTPClientTransport()
        let result: Result<AzureHTTPResponse, any Error>
        do {
            result = .success(
                try await transport.send(
                    AzureHTTPRequest(
                        method: .get, url: URL(string: "https://127.0.0.1:\(server.port)/")!, timeout: .seconds(20))))
        } catch {
            result = .failure(error)
        }
        try await transport.shutdown()
        try await server.stop()
        let error = try #require(throws: AzureTransportError.self) { try result.get() }
        #expect(error.kind == .tlsRejected)
        #expect(error.description.contains("CA file"))
        #expect(server.seen.all.isEmpty)
    }
}

@Suite struct TransportLifetime {
    /// Dropping a transport without shutting it down (a test or an error path that threw
    /// first) must not crash the process.
    @Test func aTransportDroppedWithoutShutdownDoesNotCrash() async throws {
        for _ in 0..<3 { _ = try AsyncHTTPClientTransport() }
        let kept = try AsyncHTTPClientTransport()
        try await kept.shutdown()
    }
}
