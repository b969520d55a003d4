import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import ServiceLifecycle

/// `http_listen`: `GET /metrics` (Prometheus text format) and `GET /` (a plain status page).
final class HTTPService: Service {
    let channel: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
    let registry: PrometheusCollectorRegistry
    let status: @Sendable () async -> String
    let logger: Logger

    init(
        address: ListenAddress,
        group: EventLoopGroup,
        registry: PrometheusCollectorRegistry,
        status: @escaping @Sendable () async -> String,
        logger: Logger
    ) async throws {
        guard case .tcp(let host, let port) = address else { throw RuntimeError("http_listen must be host:port") }
        channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(
                        wrappingChannelSynchronously: channel
                    )
                }
            }
        self.registry = registry
        self.status = status
        self.logger = logger
    }

    var localAddress: String { channel.channel.localAddress?.description ?? "?" }

    func run() async throws {
        try await AcceptLoop.run(channel) { try await self.serve($0) }
    }

    private func serve(
        _ client: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>
    ) async throws {
        try await client.executeThenClose { input, output in
            var head: HTTPRequestHead?
            for try await part in input {
                switch part {
                case .head(let requestHead):
                    head = requestHead
                case .body:
                    break
                case .end:
                    guard let request = head else { continue }
                    let (code, type, body) = await respond(to: request)
                    var headers = HTTPHeaders()
                    headers.add(name: "Content-Type", value: type)
                    headers.add(name: "Content-Length", value: String(body.utf8.count))
                    try await output.write(
                        .head(HTTPResponseHead(version: request.version, status: code, headers: headers))
                    )
                    try await output.write(.body(.byteBuffer(ByteBuffer(string: body))))
                    try await output.write(.end(nil))
                    if !request.isKeepAlive { return }
                }
            }
        }
    }

    private func respond(to request: HTTPRequestHead) async -> (HTTPResponseStatus, String, String) {
        guard request.method == .GET else { return (.methodNotAllowed, "text/plain", "GET only\n") }
        switch request.uri.split(separator: "?").first.map(String.init) ?? "/" {
        case "/metrics":
            return (.ok, "text/plain; version=0.0.4", registry.emitToString())
        case "/":
            return (.ok, "text/plain; charset=utf-8", await status())
        default:
            return (.notFound, "text/plain", "not found\n")
        }
    }
}
