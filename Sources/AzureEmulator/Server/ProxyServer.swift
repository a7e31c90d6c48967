import Foundation
import NIOCore
import NIOPosix

/// The HTTP proxy port: an unmodified tool pointed at it with `HTTPS_PROXY`/`HTTP_PROXY`
/// reaches the emulator and nothing else.
///
/// * `CONNECT host:443` for an Azure host the server certificate covers → 200, then the
///   bytes are spliced to the emulator's TLS listener (which terminates TLS for that name);
/// * absolute-form `http://169.254.169.254/...` or `CONNECT 169.254.169.254:80` (IMDS) →
///   spliced to the plain listener;
/// * anything else → 403, connection closed.
final class ProxyServer: Sendable {
    let channel: any Channel
    var port: Int { channel.localAddress?.port ?? 0 }

    private init(channel: any Channel) { self.channel = channel }

    static func start(
        host: String, port: Int, tlsPort: Int, plainPort: Int,
        refused: @escaping @Sendable (_ method: String, _ target: String) -> Void
    ) async throws -> ProxyServer {
        let allowed = Set(CertificateAuthority.azureHosts)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(
                        ProxyFrontHandler(
                            allowedHosts: allowed, tlsPort: tlsPort, plainPort: plainPort, refused: refused))
                }
            }
            .bind(host: host, port: port).get()
        return ProxyServer(channel: channel)
    }

    func stop() async { try? await channel.close() }
}

/// Reads the first request head on a proxy connection and decides where the connection goes.
final class ProxyFrontHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    enum Mode { case head, connecting, tunnel }
    let allowedHosts: Set<String>
    let tlsPort: Int
    let plainPort: Int
    let refused: @Sendable (String, String) -> Void
    var mode = Mode.head
    var buffer = ByteBuffer()
    var pending: [ByteBuffer] = []

    init(allowedHosts: Set<String>, tlsPort: Int, plainPort: Int, refused: @escaping @Sendable (String, String) -> Void)
    {
        self.allowedHosts = allowedHosts
        self.tlsPort = tlsPort
        self.plainPort = plainPort
        self.refused = refused
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        switch mode {
        case .tunnel:
            context.fireChannelRead(data)
        case .connecting:
            pending.append(bytes)
        case .head:
            buffer.writeBuffer(&bytes)
            let view = buffer.readableBytesView
            guard let end = view.firstRange(of: [13, 10, 13, 10]) else {
                if buffer.readableBytes > 64 * 1024 {
                    reject(context, "request head too large", method: "?", target: "?")
                }
                return
            }
            let headLength = end.upperBound - view.startIndex
            let head = String(decoding: view.prefix(headLength), as: UTF8.self)
            let line = head.split(separator: "\r\n", maxSplits: 1).first.map(String.init) ?? ""
            let parts = line.split(separator: " ").map(String.init)
            guard parts.count == 3 else { return reject(context, "malformed request line", method: "?", target: line) }
            let method = parts[0].uppercased()
            let target = parts[1]
            if method == "CONNECT" {
                let hp = target.split(separator: ":")
                let host = hp.first.map { String($0).lowercased() } ?? ""
                let port = hp.count > 1 ? Int(hp[1]) ?? 0 : 443
                // Some clients (AsyncHTTPClient) tunnel plain HTTP too: CONNECT 169.254.169.254:80 is IMDS.
                let imds = host == "169.254.169.254" && port == 80
                let blob = BlobAddress.account(ofHost: host) != nil
                guard ((allowedHosts.contains(host) || blob) && port == 443) || imds else {
                    return reject(
                        context, "the emulator's proxy only tunnels to Azure hosts it emulates; \(target) is refused",
                        method: method, target: target)
                }
                buffer.moveReaderIndex(forwardBy: headLength)
                let rest = buffer
                buffer = ByteBuffer()
                connect(
                    context, to: imds ? plainPort : tlsPort, first: rest,
                    reply: "HTTP/1.1 200 Connection established\r\nContent-Length: 0\r\n\r\n")
            } else if target.lowercased().hasPrefix("http://") {
                let afterScheme = target.dropFirst("http://".count)
                let authority = afterScheme.split(separator: "/", maxSplits: 1).first.map(String.init) ?? ""
                let host = authority.split(separator: ":").first.map { String($0).lowercased() } ?? ""
                guard host == "169.254.169.254" else {
                    return reject(
                        context,
                        "the emulator's proxy serves plain HTTP only for IMDS (169.254.169.254); \(target) is refused",
                        method: method, target: target)
                }
                let all = buffer
                buffer = ByteBuffer()
                connect(context, to: plainPort, first: all, reply: nil)
            } else {
                reject(
                    context, "a proxy request needs CONNECT or an absolute-form http:// target", method: method,
                    target: target)
            }
        }
    }

    func reject(_ context: ChannelHandlerContext, _ message: String, method: String, target: String) {
        refused(method, target)
        let body = message + "\n"
        let response =
            "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n"
            + body
        mode = .connecting
        context.writeAndFlush(wrapInboundOut(ByteBuffer(string: response)), promise: nil)
        context.close(promise: nil)
    }

    /// Connects to the emulator on loopback and splices the two channels.
    func connect(_ context: ChannelHandlerContext, to port: Int, first: ByteBuffer, reply: String?) {
        mode = .connecting
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        ClientBootstrap(group: context.eventLoop)
            .connect(host: "127.0.0.1", port: port)
            .whenComplete { result in
                let (handler, context) = bound.value
                switch result {
                case .failure:
                    context.close(promise: nil)
                case .success(let peer):
                    let (a, b) = GlueHandler.matchedPair()
                    do {
                        try context.pipeline.syncOperations.addHandler(a)
                        try peer.pipeline.syncOperations.addHandler(b)
                    } catch {
                        context.close(promise: nil)
                        peer.close(promise: nil)
                        return
                    }
                    handler.mode = .tunnel
                    if let reply { context.writeAndFlush(NIOAny(ByteBuffer(string: reply)), promise: nil) }
                    if first.readableBytes > 0 { peer.write(first, promise: nil) }
                    for p in handler.pending { peer.write(p, promise: nil) }
                    handler.pending = []
                    peer.flush()
                }
            }
    }
}

/// One half of a splice: what one channel reads, the other writes. Both halves live on the
/// same event loop (the client bootstrap uses the accepting channel's loop).
final class GlueHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    var partner: GlueHandler?
    var context: ChannelHandlerContext?

    static func matchedPair() -> (GlueHandler, GlueHandler) {
        let a = GlueHandler()
        let b = GlueHandler()
        a.partner = b
        b.partner = a
        return (a, b)
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        partner = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        partner?.context?.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) { partner?.context?.flush() }

    func channelInactive(context: ChannelHandlerContext) {
        partner?.context?.close(promise: nil)
        partner = nil
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}
