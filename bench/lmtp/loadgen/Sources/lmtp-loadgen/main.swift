// Entry point: start the workers, wait, aggregate and report. See LoadGen.swift.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

// MARK: - main

let opts = parseOptions()
let loadAtStart = loadAverage1m()
let shared = Shared(opts)
var workers: [Worker] = []
var threads: [pthread_t] = []
for i in 0..<opts.conns {
    let w = Worker(id: i + 1, shared: shared)
    workers.append(w)
    threads.append(startThread(w))
}

// wait (bounded) until every connection has finished its greeting + LHLO
let setupDeadline = nowNs() + UInt64(max(opts.ioTimeout, 10) * 2e9)
while shared.ready.load(ordering: .acquiring) < opts.conns {
    if nowNs() > setupDeadline {
        eprint("lmtp-loadgen: connections not ready in time\n")
        shared.abort.store(true, ordering: .releasing)
        break
    }
    usleep(1000)
}
let t0 = nowNs()
shared.startNs.store(t0, ordering: .relaxed)
let warmupEnd = t0 + UInt64(opts.warmup * 1e9)
shared.warmupEndNs.store(warmupEnd, ordering: .relaxed)
shared.deadlineNs.store(warmupEnd + UInt64(max(0, opts.duration) * 1e9), ordering: .relaxed)
shared.go.store(true, ordering: .releasing)
for t in threads { pthread_join(t, nil) }
let loadgenCPU = selfCPUSeconds()
let wallAfterGo = Double(nowNs() - t0) / 1e9

// MARK: - aggregate

var all: [UInt64] = []
var errors: [String: Int] = [:]
var acked = 0, attempted = 0, measured = 0, setupFailures = 0, reconnects = 0
var lastDone: UInt64 = 0
var pipelined = 0
var setupErrors: [String] = []
for w in workers {
    all.append(contentsOf: w.latencies)
    for (k, v) in w.errors { errors[k, default: 0] += v }
    acked += w.acked
    attempted += w.attempted
    measured += w.measured
    reconnects += w.reconnects
    if let e = w.setupError { setupFailures += 1; setupErrors.append(e) }
    if w.pipelining { pipelined += 1 }
    lastDone = max(lastDone, w.lastDoneNs)
}
for e in setupErrors { errors["setup " + e, default: 0] += 1 }
all.sort()
let windowStart = warmupEnd
let elapsed = lastDone > windowStart ? Double(lastDone - windowStart) / 1e9 : 0
let rate = elapsed > 0 ? Double(measured) / elapsed : 0
let mean = all.isEmpty ? Double.nan : Double(all.reduce(0, &+)) / Double(all.count) / 1e6
let non250 = errors.values.reduce(0, +)
let p50 = percentileMs(all, 0.50), p90 = percentileMs(all, 0.90), p99 = percentileMs(all, 0.99), p999 = percentileMs(all, 0.999)
let maxMs = all.isEmpty ? Double.nan : Double(all.last!) / 1e6

let target = opts.singleUser.map { "\($0)@\(opts.domain)" } ?? "\(opts.users) users"
print("\(opts.label.isEmpty ? "lmtp" : opts.label): conns=\(opts.conns) rcpt=\(target) pipelining=\(pipelined)/\(opts.conns)"
    + " measured=\(measured) in \(fmt(elapsed))s -> \(fmt(rate, 1)) msg/s"
    + " p50=\(fmt(p50, 3))ms p99=\(fmt(p99, 3))ms max=\(fmt(maxMs, 3))ms"
    + " acked(250)=\(acked) attempted=\(attempted) non250=\(non250)"
    + " loadgen-cpu=\(fmt(wallAfterGo > 0 ? loadgenCPU / wallAfterGo * 100 : 0, 0))%"
    + (loadAtStart.map { " load1m-at-start=\(fmt($0))" } ?? ""))
for (k, v) in errors.sorted(by: { $0.key < $1.key }) { print("  non-250/error: \(k) x\(v)") }

if let path = opts.jsonPath {
    var j = "{"
    j += "\"label\":\(jsonString(opts.label)),"
    j += "\"host\":\(jsonString(opts.host)),\"port\":\(opts.port),"
    j += "\"conns\":\(opts.conns),\"users\":\(opts.singleUser == nil ? opts.users : 1),"
    j += "\"single_user\":\(opts.singleUser.map(jsonString) ?? "null"),"
    j += "\"message_size\":\(opts.size),\"pipelined_connections\":\(pipelined),"
    j += "\"warmup_s\":\(jsonNumber(opts.warmup)),\"measured_s\":\(jsonNumber(elapsed)),"
    j += "\"attempted\":\(attempted),\"acked\":\(acked),\"measured_msgs\":\(measured),"
    j += "\"msgs_per_s\":\(jsonNumber(rate)),"
    j += "\"p50_ms\":\(jsonNumber(p50)),\"p90_ms\":\(jsonNumber(p90)),\"p99_ms\":\(jsonNumber(p99)),"
    j += "\"p999_ms\":\(jsonNumber(p999)),\"max_ms\":\(jsonNumber(maxMs)),\"mean_ms\":\(jsonNumber(mean)),"
    j += "\"loadgen_cpu_s\":\(jsonNumber(loadgenCPU)),\"wall_s\":\(jsonNumber(wallAfterGo)),"
    j += "\"loadavg_1m_at_start\":\(loadAtStart.map(jsonNumber) ?? "null"),"
    j += "\"non250\":\(non250),\"setup_failures\":\(setupFailures),\"reconnects\":\(reconnects),"
    j += "\"errors\":{" + errors.sorted(by: { $0.key < $1.key }).map { "\(jsonString($0.key)):\($0.value)" }.joined(separator: ",") + "}"
    j += "}\n"
    guard let f = fopen(path, "w") else { eprint("cannot write \(path)\n"); exit(1) }
    fputs(j, f)
    fclose(f)
}
exit(setupFailures == opts.conns ? 1 : 0)
