// Verilator harness of the VTA core, built and run by vtaref.impl.verilator (see its docstring
// for the bus timing). The host writes INSN_ADDR, INSN_COUNT and CTRL through the AXI4-Lite
// port, polls CTRL until DONE and reads the counters; a DRAM model serves the AXI4 port.
//
// Built with -DDATA_BITS=<AXI data width> and the register map and AXI constants as -D defines
// (VCR_*, AXI_*), taken from vtaref.impl.vcr, vtaref.impl.axi and vtaref.impl.verilator.
//
// Usage: Vvta_core key=value...   keys: dram_in, dram_out (files), dram_base, insn_addr,
//        insn_count, max_cycles, read_latency, counters (comma-separated register offsets),
//        vcd (optional, needs a --trace build). Numbers may be decimal or 0x-prefixed.
// Success: DRAM written to dram_out, "offset=value" lines on stdout for each counter, exit 0.
// Failure of the run (bus violation, access outside DRAM, timeout): "error: <message>" on
// stderr, exit 2 (the waveform, if any, ends at the failure). Bad arguments: exit 1.

#include <cinttypes>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "Vvta_core.h"
#include "verilated.h"
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

struct Burst {
    uint64_t addr;         // AxADDR: beat i covers addr + i * DATA_BYTES
    unsigned beats;        // AxLEN + 1
    uint64_t ready_cycle;  // reads: the first cycle its first beat may be valid
};

struct BurstQueue {
    Burst slots[AXI_MAX_BURSTS];
    unsigned head = 0, count = 0;
    Burst& front() { return slots[head]; }
    void push(const Burst& burst) { slots[(head + count++) % AXI_MAX_BURSTS] = burst; }
    void pop() { head = (head + 1) % AXI_MAX_BURSTS; --count; }
};

static std::vector<uint8_t> dram;
static uint64_t dram_base = 0, dram_end = 0;
static uint64_t read_latency = 1;
static BurstQueue reads, writes;  // reads: until their last beat is taken; writes: given
static unsigned read_beat = 0, write_beat = 0, pending_responses = 0;

static Burst accept_burst(const char* kind, uint64_t addr, unsigned len, unsigned size,
                          unsigned burst) {
    Burst result{addr, len + 1, 0};
    uint64_t end = addr + uint64_t(result.beats) * DATA_BYTES;  // exclusive
    char what[128];
    std::snprintf(what, sizeof what, "AXI %s burst at 0x%08" PRIx64 " (%u beats of %u bytes)",
                  kind, addr, result.beats, DATA_BYTES);
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
    return result;
}

// Present beat `read_beat` of the oldest read burst on the R channel.
static void present_read_beat() {
    Burst& burst = reads.front();
    uint64_t addr = burst.addr + uint64_t(read_beat) * DATA_BYTES;
    std::memcpy(lanes(top->AXI(rdata)), &dram[addr - dram_base], DATA_BYTES);
    top->AXI(rlast) = read_beat + 1 == burst.beats;
    top->AXI(rvalid) = 1;
}

// Take the beat on the W channel into the oldest write burst.
static void take_write_beat() {
    Burst& burst = writes.front();
    bool last = write_beat + 1 == burst.beats;
    if (bool(top->AXI(wlast)) != last)
        fail("AXI write burst at 0x%08" PRIx64 ": WLAST is %d on beat %u of %u", burst.addr,
             int(top->AXI(wlast)), write_beat + 1, burst.beats);
    uint8_t* out = &dram[burst.addr - dram_base + uint64_t(write_beat) * DATA_BYTES];
    uint64_t strobes = top->AXI(wstrb);
    const uint8_t* data = lanes(top->AXI(wdata));
    if (strobes == (DATA_BYTES == 64 ? ~uint64_t(0) : (uint64_t(1) << DATA_BYTES) - 1)) {
        std::memcpy(out, data, DATA_BYTES);
    } else {
        for (unsigned i = 0; i < DATA_BYTES; ++i)
            if (strobes >> i & 1) out[i] = data[i];
    }
    if (last) {
        writes.pop();
        write_beat = 0;
        ++pending_responses;
    } else {
        ++write_beat;
    }
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

// One clock cycle: settle the inputs driven for this cycle, take every handshake, clock the
// core, then drive the DRAM model's outputs for the next cycle.
static void tick() {
    top->clk = 0;
    top->eval();
    dump(10 * cycle);

    lite.aw = top->CTRL(awvalid) && top->CTRL(awready);
    lite.w = top->CTRL(wvalid) && top->CTRL(wready);
    lite.b = top->CTRL(bvalid) && top->CTRL(bready);
    lite.ar = top->CTRL(arvalid) && top->CTRL(arready);
    lite.r = top->CTRL(rvalid) && top->CTRL(rready);
    lite.rdata = top->CTRL(rdata);

    bool ar_valid = top->AXI(arvalid), aw_valid = top->AXI(awvalid);
    bool w_valid = top->AXI(wvalid), r_fire = top->AXI(rvalid) && top->AXI(rready);
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
        Burst burst = accept_burst("read", top->AXI(araddr), top->AXI(arlen), top->AXI(arsize),
                                   top->AXI(arburst));
        burst.ready_cycle = cycle + read_latency;
        reads.push(burst);
    }
    if (aw_valid && top->AXI(awready))
        writes.push(accept_burst("write", top->AXI(awaddr), top->AXI(awlen), top->AXI(awsize),
                                 top->AXI(awburst)));
    if (top->AXI(bvalid) && top->AXI(bready)) --pending_responses;
    if (w_valid && top->AXI(wready)) take_write_beat();

    top->clk = 1;
    top->eval();
    dump(10 * cycle + 5);
    ++cycle;

    if (r_fire) {
        if (++read_beat == reads.front().beats) {
            reads.pop();
            read_beat = 0;
        }
        top->AXI(rvalid) = 0;
    }
    if (!top->AXI(rvalid) && reads.count && reads.front().ready_cycle <= cycle)
        present_read_beat();  // a beat stays on the bus, unchanged, until it is taken
    top->AXI(arready) = reads.count < AXI_MAX_BURSTS;
    top->AXI(awready) = writes.count + pending_responses < AXI_MAX_BURSTS;
    top->AXI(wready) = writes.count != 0;
    top->AXI(bvalid) = pending_responses != 0;
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

int main(int argc, char** argv) {
    load_dram(argument(argc, argv, "dram_in", nullptr));
    dram_base = number(argc, argv, "dram_base");
    dram_end = dram_base + dram.size();
    uint64_t insn_addr = number(argc, argv, "insn_addr");
    uint64_t insn_count = number(argc, argv, "insn_count");
    uint64_t max_cycles = number(argc, argv, "max_cycles");
    read_latency = number(argc, argv, "read_latency", "1");
    if (read_latency < 1) {
        std::fputs("read_latency must be at least 1\n", stderr);
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

    top->rst = 1;
    for (unsigned i = 0; i < RESET_CYCLES; ++i) tick();
    top->rst = 0;
    lite_write(VCR_INSN_ADDR, uint32_t(insn_addr));
    lite_write(VCR_INSN_COUNT, uint32_t(insn_count));
    uint64_t start = cycle;
    lite_write(VCR_CTRL, VCR_CTRL_START);
    while (!(lite_read(VCR_CTRL) & VCR_CTRL_DONE)) {
        if (cycle - start > max_cycles)
            fail("the core is not done after %" PRIu64 " cycles (deadlocked tokens or a "
                 "runaway program?)", max_cycles);
        for (uint64_t i = 0; i < POLL_CYCLES; ++i) tick();
    }
    for (uint32_t reg : counters) std::printf("0x%02x=%u\n", reg, lite_read(reg));
    top->final();
#if VM_TRACE
    if (vcd) vcd->close();
#endif
    save_dram(argument(argc, argv, "dram_out", nullptr));
    return 0;
}
