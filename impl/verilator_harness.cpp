// Verilator harness of the VTA core, built and run by vtaref.impl.verilator (see its docstring
// for the bus timing). The host writes INSN_ADDR, INSN_COUNT and CTRL through the AXI4-Lite
// port, polls CTRL until DONE (or ERROR) and reads the counters; a DRAM model serves the AXI4
// port. Several runs follow each other without a reset, each with its own DRAM contents.
//
// Built with -DDATA_BITS=<AXI data width> and the register map and AXI constants as -D defines
// (VCR_*, AXI_*), taken from vtaref.impl.vcr, vtaref.impl.axi and vtaref.impl.verilator.
//
// Usage: Vvta_core key=value...   keys: runs (a file, one run per line: dram_in dram_out
//        dram_base insn_addr insn_count max_cycles), counters (comma-separated register
//        offsets), read_latency, stall_ppm, max_delay, seed, faults (r|w:start:end:resp,...),
//        vcd (optional, needs a --trace build), retire (optional, needs a model of the core
//        with its retirement port, built with -DRETIRE and a retire_ports.h that defines
//        RETIRE_PORTS: one line "run cycle member payload-in-hex" per event of the port).
//        Numbers may be decimal or 0x-prefixed.
// Success: each run's DRAM written to its dram_out, a line "run=K offset=value..." on stdout
// per run as it ends, exit 0. A bus error response stops the core: "bus-error: status=S
// addr=A" on stderr (the ERROR and ERROR_ADDR registers), exit 3. Any other failure of a run
// (bus violation, access outside DRAM, timeout, DONE with writes unanswered): "error:
// <message>" on stderr, exit 2 (the waveform, if any, ends at the failure). Bad arguments:
// exit 1.

#include <cinttypes>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "Vvta_core.h"
#include "verilated.h"
#ifdef RETIRE
#include "retire_ports.h"  // RETIRE_PORTS(X): X(member, valid port, payload port) per member
#endif
#if VM_TRACE
#include "verilated_vcd_c.h"
#endif

// Verilator escapes the "__" of Amaranth's flattened port names as "___05F".
#define AXI(name) axi___05F##name
#define CTRL(name) ctrl___05F##name

static constexpr unsigned DATA_BYTES = DATA_BITS / 8;
static constexpr uint64_t POLL_CYCLES = 64;     // cycles between two reads of CTRL
static constexpr uint64_t LITE_TIMEOUT = 1000;  // cycles an AXI4-Lite access may take
static constexpr unsigned RESET_CYCLES = 4;

static unsigned log2_exact(unsigned value) {
    unsigned log = 0;
    while ((1u << log) < value) ++log;
    return log;
}

static const unsigned LOG_DATA_BYTES = log2_exact(DATA_BYTES);

// Never destroyed: Verilated's own statics may be gone by the time static destructors run.
static VerilatedContext* context;
static Vvta_core* top;
#if VM_TRACE
static VerilatedVcdC* vcd;
#endif
static uint64_t cycle = 0;
static size_t run_index = 0;  // of the run under way
static FILE* retire_file = nullptr;

[[noreturn]] static void fail(const char* format, ...) {
#if VM_TRACE
    if (vcd) vcd->close();
#endif
    va_list args;
    va_start(args, format);
    std::fputs("error: ", stderr);
    std::vfprintf(stderr, format, args);
    std::fputc('\n', stderr);
    va_end(args);
    std::exit(2);
}

// Byte view of a bus signal (little-endian lanes): QData for 64 bits, VlWide above.
template <typename T>
static inline uint8_t* lanes(T& value) { return reinterpret_cast<uint8_t*>(&value); }
template <std::size_t N>
static inline uint8_t* lanes(VlWide<N>& value) {
    return reinterpret_cast<uint8_t*>(value.data());
}

// ---- DRAM: an AXI4 subordinate -----------------------------------------------------------

// Random back-pressure and delays (all off by default: the timing is then the documented one).
static std::mt19937_64 rng;
static uint64_t stall_ppm = 0;  // each READY, and each new VALID, is withheld with this chance
static uint64_t max_delay = 0;  // extra cycles (uniform in 0..max_delay) before a burst's
                                // first read beat and before each write response
static bool go() { return stall_ppm == 0 || rng() % 1000000 >= stall_ppm; }
static uint64_t delay() { return max_delay ? rng() % (max_delay + 1) : 0; }

// Address ranges whose bursts get an error response (a burst that touches one).
struct Fault {
    bool write;
    uint64_t start, end;  // [start, end)
    unsigned resp;
};
static std::vector<Fault> faults;

static unsigned response_for(bool write, uint64_t addr, uint64_t end) {
    for (const Fault& fault : faults)
        if (fault.write == write && addr < fault.end && fault.start < end) return fault.resp;
    return AXI_RESP_OKAY;
}

struct ReadBurst {
    uint64_t addr;         // AxADDR: beat i covers addr + i * DATA_BYTES
    unsigned beats;        // AxLEN + 1
    uint64_t ready_cycle;  // the first cycle its first beat may be valid
    unsigned resp;
};

// A write burst: its beats are kept until its response is taken, and only then written to
// DRAM (an interconnect makes a write visible no earlier than its response).
struct WriteBurst {
    uint64_t addr;
    unsigned beats, received = 0;
    unsigned resp;
    uint64_t ready_cycle = 0;  // the first cycle its response may be valid
    std::vector<uint8_t> data, strobes;
};

static std::vector<uint8_t> dram;
static uint64_t dram_base = 0, dram_end = 0;
static uint64_t read_latency = 1;
static std::deque<ReadBurst> reads;      // until their last beat is taken
static std::deque<WriteBurst> writes;    // accepted, awaiting data
static std::deque<WriteBurst> responses; // all data in, awaiting their response's handshake
static unsigned read_beat = 0;

// Check an accepted burst's attributes; return the byte address after it.
static uint64_t check_burst(const char* kind, uint64_t addr, unsigned len, unsigned size,
                            unsigned burst) {
    unsigned beats = len + 1;
    uint64_t end = addr + uint64_t(beats) * DATA_BYTES;  // exclusive
    char what[128];
    std::snprintf(what, sizeof what, "AXI %s burst at 0x%08" PRIx64 " (%u beats of %u bytes)",
                  kind, addr, beats, DATA_BYTES);
    if (burst != AXI_BURST_INCR) fail("%s: AxBURST %u is not INCR", what, burst);
    if (size != LOG_DATA_BYTES) fail("%s: AxSIZE %u is not the full width", what, size);
    if (len >= AXI_MAX_BURST_BEATS) fail("%s: AxLEN %u is over %u", what, len,
                                         AXI_MAX_BURST_BEATS - 1);
    if (addr % DATA_BYTES) fail("%s: the address is not a multiple of the beat size", what);
    if (addr / AXI_BOUNDARY_BYTES != (end - 1) / AXI_BOUNDARY_BYTES)
        fail("%s crosses a 4 KiB boundary at 0x%08" PRIx64, what,
             (addr / AXI_BOUNDARY_BYTES + 1) * AXI_BOUNDARY_BYTES);
    if (addr < dram_base || end > dram_end)
        fail("%s is outside DRAM [0x%08" PRIx64 ", 0x%08" PRIx64 ")", what, dram_base,
             dram_end);
    return end;
}

// Present beat `read_beat` of the oldest read burst on the R channel.
static void present_read_beat() {
    ReadBurst& burst = reads.front();
    uint64_t addr = burst.addr + uint64_t(read_beat) * DATA_BYTES;
    std::memcpy(lanes(top->AXI(rdata)), &dram[addr - dram_base], DATA_BYTES);
    top->AXI(rresp) = burst.resp;
    top->AXI(rlast) = read_beat + 1 == burst.beats;
    top->AXI(rvalid) = 1;
}

// Take the beat on the W channel into the oldest write burst.
static void take_write_beat() {
    WriteBurst& burst = writes.front();
    bool last = burst.received + 1 == burst.beats;
    if (bool(top->AXI(wlast)) != last)
        fail("AXI write burst at 0x%08" PRIx64 ": WLAST is %d on beat %u of %u", burst.addr,
             int(top->AXI(wlast)), burst.received + 1, burst.beats);
    size_t at = size_t(burst.received) * DATA_BYTES;
    std::memcpy(&burst.data[at], lanes(top->AXI(wdata)), DATA_BYTES);
    uint64_t strobes = top->AXI(wstrb);
    for (unsigned i = 0; i < DATA_BYTES; ++i) burst.strobes[at + i] = strobes >> i & 1;
    if (++burst.received == burst.beats) {
        burst.ready_cycle = cycle + 1 + delay();
        responses.push_back(std::move(burst));
        writes.pop_front();
    }
}

// Write a burst whose response was taken into DRAM (unless the response was an error).
static void commit(const WriteBurst& burst) {
    if (burst.resp != AXI_RESP_OKAY) return;
    uint8_t* out = &dram[burst.addr - dram_base];
    for (size_t i = 0; i < burst.data.size(); ++i)
        if (burst.strobes[i]) out[i] = burst.data[i];
}

// An offer of the core that was not taken: the next cycle must offer the same again.
struct Offer {
    bool waiting = false;
    uint64_t head[2];  // AxADDR and AxLEN, or WSTRB and WLAST
    uint8_t data[DATA_BYTES];
};
static Offer ar_offer, aw_offer, w_offer;

static void check_offer(Offer& offer, const char* channel, bool valid, bool ready,
                        uint64_t first, uint64_t second, const uint8_t* data) {
    if (offer.waiting && (!valid || offer.head[0] != first || offer.head[1] != second ||
                          (data && std::memcmp(offer.data, data, DATA_BYTES)))) {
        if (data)
            fail("the core %s on W before WREADY", valid ? "changed a beat" : "dropped WVALID");
        fail("the core %s on %s before READY (it offered a burst at 0x%08" PRIx64 ")",
             valid ? "changed the burst" : "dropped VALID", channel, offer.head[0]);
    }
    offer.waiting = valid && !ready;
    if (offer.waiting) {
        offer.head[0] = first;
        offer.head[1] = second;
        if (data) std::memcpy(offer.data, data, DATA_BYTES);
    }
}

// ---- the clock ---------------------------------------------------------------------------

struct LiteEvents {
    bool aw, w, b, ar, r;
    uint32_t rdata;
};
static LiteEvents lite;

static inline void dump(uint64_t time) {
#if VM_TRACE
    if (vcd) vcd->dump(time);
#else
    (void)time;
#endif
}

// Write one event of the retirement port: its payload in hex, most significant digits first.
template <typename Payload>
static void record_event(const char* member, const Payload& payload) {
    std::fprintf(retire_file, "%zu %" PRIu64 " %s ", run_index, cycle, member);
    if constexpr (std::is_integral_v<Payload>) {
        std::fprintf(retire_file, "%" PRIx64 "\n", uint64_t(payload));
    } else {
        std::fprintf(retire_file, "%x", unsigned(payload[Payload::Words - 1]));
        for (size_t i = Payload::Words - 1; i-- > 0;)
            std::fprintf(retire_file, "%08x", unsigned(payload[i]));
        std::fputc('\n', retire_file);
    }
}

// One clock cycle: settle the inputs driven for this cycle, take every handshake, clock the
// core, then drive the DRAM model's outputs for the next cycle.
static void tick() {
    top->clk = 0;
    top->eval();
    dump(10 * cycle);
#ifdef RETIRE
    if (retire_file) {
#define RECORD_EVENT(member, valid, payload) \
        if (top->valid) record_event(#member, top->payload);
        RETIRE_PORTS(RECORD_EVENT)
#undef RECORD_EVENT
    }
#endif

    lite.aw = top->CTRL(awvalid) && top->CTRL(awready);
    lite.w = top->CTRL(wvalid) && top->CTRL(wready);
    lite.b = top->CTRL(bvalid) && top->CTRL(bready);
    lite.ar = top->CTRL(arvalid) && top->CTRL(arready);
    lite.r = top->CTRL(rvalid) && top->CTRL(rready);
    lite.rdata = top->CTRL(rdata);

    bool ar_valid = top->AXI(arvalid), aw_valid = top->AXI(awvalid);
    bool w_valid = top->AXI(wvalid), r_fire = top->AXI(rvalid) && top->AXI(rready);
    bool b_fire = top->AXI(bvalid) && top->AXI(bready);
    if (ar_valid || ar_offer.waiting)
        check_offer(ar_offer, "AR", ar_valid, top->AXI(arready), top->AXI(araddr),
                    top->AXI(arlen), nullptr);
    if (aw_valid || aw_offer.waiting)
        check_offer(aw_offer, "AW", aw_valid, top->AXI(awready), top->AXI(awaddr),
                    top->AXI(awlen), nullptr);
    if ((w_valid && !top->AXI(wready)) || w_offer.waiting)
        check_offer(w_offer, "W", w_valid, top->AXI(wready), top->AXI(wstrb),
                    top->AXI(wlast), lanes(top->AXI(wdata)));
    if (ar_valid && top->AXI(arready)) {
        uint64_t addr = top->AXI(araddr);
        uint64_t end = check_burst("read", addr, top->AXI(arlen), top->AXI(arsize),
                                   top->AXI(arburst));
        reads.push_back({addr, unsigned(top->AXI(arlen)) + 1,
                         cycle + read_latency + delay(), response_for(false, addr, end)});
    }
    if (aw_valid && top->AXI(awready)) {
        WriteBurst burst;
        burst.addr = top->AXI(awaddr);
        burst.beats = unsigned(top->AXI(awlen)) + 1;
        uint64_t end = check_burst("write", burst.addr, top->AXI(awlen), top->AXI(awsize),
                                   top->AXI(awburst));
        burst.resp = response_for(true, burst.addr, end);
        burst.data.resize(size_t(burst.beats) * DATA_BYTES);
        burst.strobes.resize(burst.data.size());
        writes.push_back(std::move(burst));
    }
    if (w_valid && top->AXI(wready)) take_write_beat();

    top->clk = 1;
    top->eval();
    dump(10 * cycle + 5);
    ++cycle;

    if (r_fire) {
        if (++read_beat == reads.front().beats) {
            reads.pop_front();
            read_beat = 0;
        }
        top->AXI(rvalid) = 0;
    }
    if (b_fire) {
        commit(responses.front());
        responses.pop_front();
        top->AXI(bvalid) = 0;
    }
    // A VALID, once up, stays up (unchanged) until its handshake; READYs may come and go.
    if (!top->AXI(rvalid) && !reads.empty() && reads.front().ready_cycle <= cycle && go())
        present_read_beat();
    if (!top->AXI(bvalid) && !responses.empty() && responses.front().ready_cycle <= cycle &&
        go()) {
        top->AXI(bresp) = responses.front().resp;
        top->AXI(bvalid) = 1;
    }
    top->AXI(arready) = reads.size() < AXI_MAX_BURSTS && go();
    top->AXI(awready) = writes.size() + responses.size() < AXI_MAX_BURSTS && go();
    top->AXI(wready) = !writes.empty() && go();
}

// ---- the host: AXI4-Lite accesses --------------------------------------------------------

static void lite_write(uint32_t reg, uint32_t value) {
    top->CTRL(awaddr) = reg;
    top->CTRL(wdata) = value;
    top->CTRL(wstrb) = 0xF;
    top->CTRL(awvalid) = 1;
    top->CTRL(wvalid) = 1;
    top->CTRL(bready) = 1;
    for (uint64_t waited = 0; waited < LITE_TIMEOUT; ++waited) {
        tick();
        if (lite.aw) top->CTRL(awvalid) = 0;
        if (lite.w) top->CTRL(wvalid) = 0;
        if (lite.b) {
            top->CTRL(bready) = 0;
            return;
        }
    }
    fail("AXI4-Lite write to register 0x%02x not answered within %" PRIu64 " cycles", reg,
         LITE_TIMEOUT);
}

static uint32_t lite_read(uint32_t reg) {
    top->CTRL(araddr) = reg;
    top->CTRL(arvalid) = 1;
    top->CTRL(rready) = 1;
    for (uint64_t waited = 0; waited < LITE_TIMEOUT; ++waited) {
        tick();
        if (lite.ar) top->CTRL(arvalid) = 0;
        if (lite.r) {
            top->CTRL(rready) = 0;
            return lite.rdata;
        }
    }
    fail("AXI4-Lite read of register 0x%02x not answered within %" PRIu64 " cycles", reg,
         LITE_TIMEOUT);
}

// ---- main --------------------------------------------------------------------------------

static std::string argument(int argc, char** argv, const char* key, const char* fallback) {
    size_t length = std::strlen(key);
    for (int i = 1; i < argc; ++i)
        if (!std::strncmp(argv[i], key, length) && argv[i][length] == '=')
            return argv[i] + length + 1;
    if (!fallback) {
        std::fprintf(stderr, "missing argument %s=...\n", key);
        std::exit(1);
    }
    return fallback;
}

static uint64_t number(int argc, char** argv, const char* key, const char* fallback = nullptr) {
    return std::strtoull(argument(argc, argv, key, fallback).c_str(), nullptr, 0);
}

static void load_dram(const std::string& path) {
    FILE* file = std::fopen(path.c_str(), "rb");
    if (!file) {
        std::perror(path.c_str());
        std::exit(1);
    }
    std::fseek(file, 0, SEEK_END);
    dram.resize(std::ftell(file));
    std::fseek(file, 0, SEEK_SET);
    if (std::fread(dram.data(), 1, dram.size(), file) != dram.size()) {
        std::perror(path.c_str());
        std::exit(1);
    }
    std::fclose(file);
}

static void save_dram(const std::string& path) {
    FILE* file = std::fopen(path.c_str(), "wb");
    if (!file || std::fwrite(dram.data(), 1, dram.size(), file) != dram.size() ||
        std::fclose(file)) {
        std::perror(path.c_str());
        std::exit(1);
    }
}

// "r:START:END:RESP,w:START:END:RESP,..." (numbers decimal or 0x-prefixed)
static void parse_faults(const std::string& list) {
    for (const char* p = list.c_str(); *p;) {
        Fault fault;
        char* next;
        if ((*p != 'r' && *p != 'w') || p[1] != ':') {
            std::fprintf(stderr, "bad faults= entry at '%s'\n", p);
            std::exit(1);
        }
        fault.write = *p == 'w';
        fault.start = std::strtoull(p + 2, &next, 0);
        fault.end = std::strtoull(next + 1, &next, 0);
        fault.resp = unsigned(std::strtoul(next + 1, &next, 0));
        faults.push_back(fault);
        p = *next == ',' ? next + 1 : next;
    }
}

struct Run {
    std::string dram_in, dram_out;
    uint64_t dram_base, insn_addr, insn_count, max_cycles;
};

// One line per run: DRAM_IN DRAM_OUT DRAM_BASE INSN_ADDR INSN_COUNT MAX_CYCLES
static std::vector<Run> read_runs(const std::string& path) {
    std::ifstream file(path);
    if (!file) {
        std::perror(path.c_str());
        std::exit(1);
    }
    std::vector<Run> runs;
    std::string line;
    while (std::getline(file, line)) {
        if (line.empty()) continue;
        std::istringstream fields(line);
        Run run;
        std::string base, addr, count, cycles;
        if (!(fields >> run.dram_in >> run.dram_out >> base >> addr >> count >> cycles)) {
            std::fprintf(stderr, "bad line in %s: %s\n", path.c_str(), line.c_str());
            std::exit(1);
        }
        run.dram_base = std::strtoull(base.c_str(), nullptr, 0);
        run.insn_addr = std::strtoull(addr.c_str(), nullptr, 0);
        run.insn_count = std::strtoull(count.c_str(), nullptr, 0);
        run.max_cycles = std::strtoull(cycles.c_str(), nullptr, 0);
        runs.push_back(run);
    }
    return runs;
}

// Start one run, wait for DONE or ERROR, check that nothing is left on the bus, print the
// counters. A bus error ends the harness (the core needs a reset).
static void execute(const Run& run, size_t index, const std::vector<uint32_t>& counters) {
    run_index = index;
    load_dram(run.dram_in);  // the host fills memory while the core is idle
    dram_base = run.dram_base;
    dram_end = dram_base + dram.size();
    lite_write(VCR_INSN_ADDR, uint32_t(run.insn_addr));
    lite_write(VCR_INSN_COUNT, uint32_t(run.insn_count));
    uint64_t start = cycle;
    lite_write(VCR_CTRL, VCR_CTRL_START);
    uint32_t ctrl;
    while (!((ctrl = lite_read(VCR_CTRL)) & (VCR_CTRL_DONE | VCR_CTRL_ERROR))) {
        if (cycle - start > run.max_cycles)
            fail("the core is not done after %" PRIu64 " cycles (deadlocked tokens or a runaway "
             "program?)", run.max_cycles);
        for (uint64_t i = 0; i < POLL_CYCLES; ++i) tick();
    }
    if (ctrl & VCR_CTRL_ERROR) {
        uint32_t status = lite_read(VCR_ERROR), addr = lite_read(VCR_ERROR_ADDR);
        std::fprintf(stderr, "bus-error: status=0x%x addr=0x%x\n", status, addr);
        std::exit(3);
    }
    if (!writes.empty() || !responses.empty())
        fail("the core reported DONE before DRAM answered %zu of its write bursts (their data "
             "is not in DRAM yet)", writes.size() + responses.size());
    std::printf("run=%zu", index);
    for (uint32_t reg : counters) std::printf(" 0x%02x=%u", reg, lite_read(reg));
    std::printf("\n");
    save_dram(run.dram_out);
}

int main(int argc, char** argv) {
    std::vector<Run> runs = read_runs(argument(argc, argv, "runs", nullptr));
    read_latency = number(argc, argv, "read_latency", "1");
    stall_ppm = number(argc, argv, "stall_ppm", "0");
    max_delay = number(argc, argv, "max_delay", "0");
    rng.seed(number(argc, argv, "seed", "0"));
    parse_faults(argument(argc, argv, "faults", ""));
    if (read_latency < 1 || stall_ppm >= 1000000) {
        std::fputs("read_latency must be at least 1 and stall_ppm below 1000000\n", stderr);
        return 1;
    }
    std::vector<uint32_t> counters;
    std::string list = argument(argc, argv, "counters", "");
    for (const char* p = list.c_str(); *p;) {
        char* next;
        counters.push_back(std::strtoul(p, &next, 0));
        p = *next == ',' ? next + 1 : next;
    }

    context = new VerilatedContext;
    std::string vcd_path = argument(argc, argv, "vcd", "");
#if VM_TRACE
    if (!vcd_path.empty()) context->traceEverOn(true);  // before the model is made
#endif
    top = new Vvta_core(context);
    if (!vcd_path.empty()) {
#if VM_TRACE
        vcd = new VerilatedVcdC;
        top->trace(vcd, 99);
        vcd->open(vcd_path.c_str());
#else
        std::fputs("vcd= needs a model built with --trace\n", stderr);
        return 1;
#endif
    }

    std::string retire_path = argument(argc, argv, "retire", "");
    if (!retire_path.empty()) {
#ifdef RETIRE
        retire_file = std::fopen(retire_path.c_str(), "w");
        if (!retire_file) {
            std::fprintf(stderr, "cannot write %s\n", retire_path.c_str());
            return 1;
        }
#else
        std::fputs("retire= needs a model of the core with its retirement port\n", stderr);
        return 1;
#endif
    }

    top->rst = 1;
    for (unsigned i = 0; i < RESET_CYCLES; ++i) tick();
    top->rst = 0;
    for (size_t index = 0; index < runs.size(); ++index) execute(runs[index], index, counters);
    top->final();
    if (retire_file) std::fclose(retire_file);
#if VM_TRACE
    if (vcd) vcd->close();
#endif
    return 0;
}
