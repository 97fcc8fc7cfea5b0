/*
 * mamori.capture._pcapwalk: walks the records of a classic pcap file held in memory (an mmap of the file) and runs
 * a compiled BPF program (classic BPF, as libpcap's compiler emits it) over each, without holding the GIL.
 *
 * Python reads capture files through libpcap (pcapy-ng) everywhere; this module is the fast path for the common
 * case, a classic pcap file (not pcapng) analysed by `mamori analyze`: libpcap copies every record out of its stdio
 * buffer and filters it in the calling thread, while this walks the page cache in place on a thread of its own and
 * hands back only where the matching records are. The program is the one libpcap compiles for the file's link type
 * (pcapy.compile(...).get_bpf()), so both select exactly the same packets; tests compare them on real captures.
 *
 * Anything unusual (a record longer than the maximum, a truncated record) stops the walk with a status; the caller
 * then lets libpcap read the rest, so damaged files are reported exactly as before.
 *
 * docs/design-notes.md, "analyze: the pcap walker".
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* classic BPF instruction classes, sizes, modes and operations (the published instruction set) */
#define C_LD 0x00
#define C_LDX 0x01
#define C_ST 0x02
#define C_STX 0x03
#define C_ALU 0x04
#define C_JMP 0x05
#define C_RET 0x06
#define C_MISC 0x07
#define S_W 0x00
#define S_H 0x08
#define S_B 0x10
#define M_IMM 0x00
#define M_ABS 0x20
#define M_IND 0x40
#define M_MEM 0x60
#define M_LEN 0x80
#define M_MSH 0xa0
#define SRC_X 0x08
#define MEMWORDS 16
#define MAX_INSNS 4096
#define PREFETCH_DISTANCE 16384

typedef struct {
    uint16_t code;
    uint8_t jt;
    uint8_t jf;
    uint32_t k;
} insn_t;

typedef struct {
    PyObject_HEAD
    insn_t *insns;
    Py_ssize_t count;
    int uses_memory; /* the program reads scratch memory: it starts zeroed for each packet */
} ProgramObject;

/* One record of the result: where a matching packet is. Packed like struct.Struct("=IIQI"). */
#pragma pack(push, 1)
typedef struct {
    uint32_t sec;
    uint32_t usec;
    uint64_t offset;
    uint32_t caplen;
} match_t;
#pragma pack(pop)

static inline uint32_t load32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static inline uint32_t load16(const uint8_t *p) { return ((uint32_t)p[0] << 8) | (uint32_t)p[1]; }

/* Run the program over one packet: what it returns (0: rejected). Loads outside the captured bytes reject the
 * packet, as libpcap's interpreter does. The program was validated when it was built (jumps inside, ends in RET). */
static uint32_t run(const insn_t *pc, const uint8_t *p, uint32_t wirelen, uint32_t buflen, int uses_memory) {
    uint32_t A = 0, X = 0, k;
    uint32_t mem[MEMWORDS];
    if (uses_memory) memset(mem, 0, sizeof mem);
    --pc;
    for (;;) {
        ++pc;
        switch (pc->code) {
        case C_RET | 0x00: /* RET K */
            return pc->k;
        case C_RET | 0x10: /* RET A */
            return A;
        case C_RET | SRC_X: /* RET X */
            return X;
        case C_LD | S_W | M_ABS:
            k = pc->k;
            if (k > buflen || 4 > buflen - k) return 0;
            A = load32(p + k);
            continue;
        case C_LD | S_H | M_ABS:
            k = pc->k;
            if (k > buflen || 2 > buflen - k) return 0;
            A = load16(p + k);
            continue;
        case C_LD | S_B | M_ABS:
            k = pc->k;
            if (k >= buflen) return 0;
            A = p[k];
            continue;
        case C_LD | S_W | M_LEN:
            A = wirelen;
            continue;
        case C_LDX | S_W | M_LEN:
            X = wirelen;
            continue;
        case C_LD | S_W | M_IND:
            k = X + pc->k;
            if (k < X || k > buflen || 4 > buflen - k) return 0;
            A = load32(p + k);
            continue;
        case C_LD | S_H | M_IND:
            k = X + pc->k;
            if (k < X || k > buflen || 2 > buflen - k) return 0;
            A = load16(p + k);
            continue;
        case C_LD | S_B | M_IND:
            k = X + pc->k;
            if (k < X || k >= buflen) return 0;
            A = p[k];
            continue;
        case C_LDX | S_B | M_MSH:
            k = pc->k;
            if (k >= buflen) return 0;
            X = (uint32_t)(p[k] & 0x0f) << 2;
            continue;
        case C_LD | M_IMM:
            A = pc->k;
            continue;
        case C_LDX | M_IMM:
            X = pc->k;
            continue;
        case C_LD | M_MEM:
            A = mem[pc->k];
            continue;
        case C_LDX | M_MEM:
            X = mem[pc->k];
            continue;
        case C_ST:
            mem[pc->k] = A;
            continue;
        case C_STX:
            mem[pc->k] = X;
            continue;
        case C_JMP | 0x00: /* JA */
            pc += pc->k;
            continue;
        case C_JMP | 0x20: /* JGT K */
            pc += (A > pc->k) ? pc->jt : pc->jf;
            continue;
        case C_JMP | 0x30: /* JGE K */
            pc += (A >= pc->k) ? pc->jt : pc->jf;
            continue;
        case C_JMP | 0x10: /* JEQ K */
            pc += (A == pc->k) ? pc->jt : pc->jf;
            continue;
        case C_JMP | 0x40: /* JSET K */
            pc += (A & pc->k) ? pc->jt : pc->jf;
            continue;
        case C_JMP | 0x20 | SRC_X:
            pc += (A > X) ? pc->jt : pc->jf;
            continue;
        case C_JMP | 0x30 | SRC_X:
            pc += (A >= X) ? pc->jt : pc->jf;
            continue;
        case C_JMP | 0x10 | SRC_X:
            pc += (A == X) ? pc->jt : pc->jf;
            continue;
        case C_JMP | 0x40 | SRC_X:
            pc += (A & X) ? pc->jt : pc->jf;
            continue;
        case C_ALU | 0x00 | SRC_X: A += X; continue;
        case C_ALU | 0x10 | SRC_X: A -= X; continue;
        case C_ALU | 0x20 | SRC_X: A *= X; continue;
        case C_ALU | 0x30 | SRC_X:
            if (X == 0) return 0;
            A /= X;
            continue;
        case C_ALU | 0x90 | SRC_X:
            if (X == 0) return 0;
            A %= X;
            continue;
        case C_ALU | 0x50 | SRC_X: A &= X; continue;
        case C_ALU | 0x40 | SRC_X: A |= X; continue;
        case C_ALU | 0xa0 | SRC_X: A ^= X; continue;
        case C_ALU | 0x60 | SRC_X: A = X < 32 ? A << X : 0; continue;
        case C_ALU | 0x70 | SRC_X: A = X < 32 ? A >> X : 0; continue;
        case C_ALU | 0x00: A += pc->k; continue;
        case C_ALU | 0x10: A -= pc->k; continue;
        case C_ALU | 0x20: A *= pc->k; continue;
        case C_ALU | 0x30: A /= pc->k; continue; /* K == 0 refused when the program was built */
        case C_ALU | 0x90: A %= pc->k; continue;
        case C_ALU | 0x50: A &= pc->k; continue;
        case C_ALU | 0x40: A |= pc->k; continue;
        case C_ALU | 0xa0: A ^= pc->k; continue;
        case C_ALU | 0x60: A = pc->k < 32 ? A << pc->k : 0; continue;
        case C_ALU | 0x70: A = pc->k < 32 ? A >> pc->k : 0; continue;
        case C_ALU | 0x80: A = (uint32_t)(-(int64_t)A); continue; /* NEG */
        case C_MISC | 0x00: X = A; continue; /* TAX */
        case C_MISC | 0x80: A = X; continue; /* TXA */
        default:
            return 0; /* not reached: validate() refuses unknown codes */
        }
    }
}

/* Every opcode run() knows; anything else (and jumps out of the program, K division by zero, scratch memory out of
 * range, a last instruction that does not return) makes the program unusable here. */
static const char *validate(const insn_t *insns, Py_ssize_t n) {
    if (n < 1 || n > MAX_INSNS) return "the program is empty or too long";
    for (Py_ssize_t i = 0; i < n; i++) {
        const insn_t *in = &insns[i];
        uint16_t c = in->code;
        switch (c) {
        case C_RET | 0x00: case C_RET | 0x10: case C_RET | SRC_X:
        case C_LD | S_W | M_ABS: case C_LD | S_H | M_ABS: case C_LD | S_B | M_ABS:
        case C_LD | S_W | M_LEN: case C_LDX | S_W | M_LEN:
        case C_LD | S_W | M_IND: case C_LD | S_H | M_IND: case C_LD | S_B | M_IND:
        case C_LDX | S_B | M_MSH: case C_LD | M_IMM: case C_LDX | M_IMM:
        case C_ALU | 0x00 | SRC_X: case C_ALU | 0x10 | SRC_X: case C_ALU | 0x20 | SRC_X: case C_ALU | 0x30 | SRC_X:
        case C_ALU | 0x90 | SRC_X: case C_ALU | 0x50 | SRC_X: case C_ALU | 0x40 | SRC_X: case C_ALU | 0xa0 | SRC_X:
        case C_ALU | 0x60 | SRC_X: case C_ALU | 0x70 | SRC_X:
        case C_ALU | 0x00: case C_ALU | 0x10: case C_ALU | 0x20: case C_ALU | 0x50: case C_ALU | 0x40:
        case C_ALU | 0xa0: case C_ALU | 0x60: case C_ALU | 0x70: case C_ALU | 0x80:
        case C_MISC | 0x00: case C_MISC | 0x80:
            break;
        case C_ALU | 0x30: case C_ALU | 0x90:
            if (in->k == 0) return "division by a constant zero";
            break;
        case C_LD | M_MEM: case C_LDX | M_MEM: case C_ST: case C_STX:
            if (in->k >= MEMWORDS) return "scratch memory index out of range";
            break;
        case C_JMP | 0x00:
            if ((uint64_t)i + 1 + in->k >= (uint64_t)n) return "jump out of the program";
            break;
        case C_JMP | 0x10: case C_JMP | 0x20: case C_JMP | 0x30: case C_JMP | 0x40:
        case C_JMP | 0x10 | SRC_X: case C_JMP | 0x20 | SRC_X: case C_JMP | 0x30 | SRC_X: case C_JMP | 0x40 | SRC_X:
            if (i + 1 + in->jt >= n || i + 1 + in->jf >= n) return "jump out of the program";
            break;
        default:
            return "an instruction this interpreter does not know";
        }
    }
    uint16_t last = insns[n - 1].code;
    if (last != (C_RET | 0x00) && last != (C_RET | 0x10) && last != (C_RET | SRC_X)) return "the program does not end in a return";
    return NULL;
}

static void Program_dealloc(ProgramObject *self) {
    PyMem_Free(self->insns);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Program(instructions): a sequence of (code, jt, jf, k) as pcapy's BPFProgram.get_bpf() gives them. */
static int Program_init(ProgramObject *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"instructions", NULL};
    PyObject *seq_in;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O", kwlist, &seq_in)) return -1;
    if (self->insns != NULL) { /* a walk may be using it on another thread */
        PyErr_SetString(PyExc_TypeError, "a Program is built once");
        return -1;
    }
    PyObject *seq = PySequence_Fast(seq_in, "instructions must be a sequence of (code, jt, jf, k)");
    if (seq == NULL) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    insn_t *insns = PyMem_Calloc(n > 0 ? (size_t)n : 1, sizeof(insn_t));
    if (insns == NULL) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned int code, jt, jf;
        unsigned long k;
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyArg_ParseTuple(item, "IIIk", &code, &jt, &jf, &k) || code > 0xffff || jt > 0xff || jf > 0xff ||
            k > 0xffffffffUL) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "instruction field out of range");
            PyMem_Free(insns);
            Py_DECREF(seq);
            return -1;
        }
        insns[i].code = (uint16_t)code;
        insns[i].jt = (uint8_t)jt;
        insns[i].jf = (uint8_t)jf;
        insns[i].k = (uint32_t)k;
    }
    Py_DECREF(seq);
    const char *problem = validate(insns, n);
    if (problem != NULL) {
        PyMem_Free(insns);
        PyErr_Format(PyExc_ValueError, "BPF program refused: %s", problem);
        return -1;
    }
    self->insns = insns;
    self->count = n;
    self->uses_memory = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        uint16_t c = insns[i].code;
        if (c == (C_LD | M_MEM) || c == (C_LDX | M_MEM)) self->uses_memory = 1;
    }
    return 0;
}

/* Program.run(packet, wirelen=None) -> int: the program's return value for one packet (tests). */
static PyObject *Program_run(ProgramObject *self, PyObject *args) {
    Py_buffer packet;
    long long wirelen = -1;
    if (!PyArg_ParseTuple(args, "y*|L", &packet, &wirelen)) return NULL;
    if (self->insns == NULL) {
        PyBuffer_Release(&packet);
        PyErr_SetString(PyExc_ValueError, "no program");
        return NULL;
    }
    uint32_t buflen = packet.len > 0xffffffffLL ? 0xffffffffU : (uint32_t)packet.len;
    uint32_t wl = wirelen < 0 ? buflen : (uint32_t)wirelen;
    uint32_t r = run(self->insns, (const uint8_t *)packet.buf, wl, buflen, self->uses_memory);
    PyBuffer_Release(&packet);
    return PyLong_FromUnsignedLong(r);
}

enum { WALK_MORE = 0, WALK_END = 1, WALK_TRUNCATED = 2, WALK_BOGUS = 3 };

static inline uint32_t field32(const uint8_t *p, int swapped) {
    uint32_t v;
    memcpy(&v, p, 4);
    return swapped ? __builtin_bswap32(v) : v;
}

/* Program.walk(buffer, pos, end, swapped, nanoseconds, maxcap, limit) -> (matches, pos, status, damaged)
 *
 * Walks the pcap records of buffer[pos:end] (pos at a record header, after the file header), up to `limit` matching
 * records. `matches` packs (seconds, microseconds, offset of the packet's bytes, captured length) per match as
 * struct "=IIQI". `pos` is where the walk stopped (the next record's header). Status: 0 the limit was reached,
 * 1 the buffer ended on a record boundary, 2 a record runs past the end (a truncated file), 3 a record header
 * that no capture writes (captured length above `maxcap`). `damaged` counts the matching records whose time stamp
 * has the top bit set in its seconds or fraction (libpcap reads those fields as signed: a negative time no capture
 * writes, what a damaged record header gives); they are skipped, as the libpcap path skips them. The GIL is released
 * while walking. */
static PyObject *Program_walk(ProgramObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t pos, end, limit;
    int swapped, nsec;
    unsigned int maxcap;
    if (!PyArg_ParseTuple(args, "y*nnppIn", &view, &pos, &end, &swapped, &nsec, &maxcap, &limit)) return NULL;
    if (self->insns == NULL || pos < 0 || end < pos || end > view.len || limit < 1) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "walk: bad arguments");
        return NULL;
    }
    match_t *out = PyMem_RawMalloc((size_t)limit * sizeof(match_t));
    if (out == NULL) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    const uint8_t *base = (const uint8_t *)view.buf;
    const insn_t *insns = self->insns;
    const int uses_memory = self->uses_memory;
    Py_ssize_t found = 0, damaged = 0;
    int status = WALK_END;
    /* Each record's header is found from the one before: a chain the processor cannot fetch ahead on its own when
     * records are large (whole frames: one memory access per record, ~70 ns). Every cache line of the file ahead of
     * the walk is asked for a little before it is reached, so the reads overlap. */
    Py_ssize_t ahead = pos;
    Py_BEGIN_ALLOW_THREADS
    while (pos < end) {
        Py_ssize_t horizon = pos + PREFETCH_DISTANCE < end ? pos + PREFETCH_DISTANCE : end;
        for (; ahead < horizon; ahead += 64) __builtin_prefetch(base + ahead, 0, 0);
        if (end - pos < 16) {
            status = WALK_TRUNCATED;
            break;
        }
        const uint8_t *h = base + pos;
        uint32_t sec = field32(h, swapped), frac = field32(h + 4, swapped);
        uint32_t caplen = field32(h + 8, swapped), wirelen = field32(h + 12, swapped);
        if (caplen > maxcap) {
            status = WALK_BOGUS;
            break;
        }
        if ((Py_ssize_t)caplen > end - pos - 16) {
            status = WALK_TRUNCATED;
            break;
        }
        const uint8_t *packet = h + 16;
        if (run(insns, packet, wirelen, caplen, uses_memory) == 0) {
            /* not wanted */
        } else if ((sec | frac) & 0x80000000U) {
            damaged++;
        } else {
            match_t *m = &out[found++];
            m->sec = sec;
            m->usec = nsec ? frac / 1000 : frac;
            m->offset = (uint64_t)(pos + 16);
            m->caplen = caplen;
        }
        pos += 16 + (Py_ssize_t)caplen;
        if (found == limit) {
            status = pos < end ? WALK_MORE : WALK_END;
            break;
        }
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    PyObject *matches = PyBytes_FromStringAndSize((const char *)out, found * (Py_ssize_t)sizeof(match_t));
    PyMem_RawFree(out);
    if (matches == NULL) return NULL;
    return Py_BuildValue("(Nnin)", matches, pos, status, damaged);
}

/* ---- decoding the common frame ------------------------------------------------------------------------------
 *
 * decode(buffer, records, wide, out, mac_pairs, ip_pairs, mac_pair, ip_pair, watched, watch, other, attempt,
 *        response, packet_data, names) -> (decoded, ignored, last_ts)
 *
 * The loop of mamori.capture.decode.Decoder.decode_batch, compiled: for each record ((sec, usec, offset, caplen)
 * packed as "=IIII", or "=IIQI" when `wide`), a frame that is Ethernet + IPv4 without options + TCP, on no watched
 * port, is classified here exactly as decode_batch's fast path does and its observation appended to `out`
 * (`attempt` and `response` are the ConnectionAttempt and PortResponse classes; `names` the strings "tcp",
 * "synack", "rstack", "rst"). Addresses come from the decoder's pair caches (`mac_pairs`, `ip_pairs`, keyed by the
 * 12 and 8 raw bytes), and on a miss from its `mac_pair`/`ip_pair` methods, which fill them. A frame to or from a
 * port in `watched` also gives a PacketData (`packet_data`), after its observation, made as Decoder._fast_data
 * makes it with `watch` = (tcp_ports, flow_ports, max_payload). Every other record is handed to
 * `other(sec, usec, offset, caplen)`, which decodes it in Python and appends what it finds. */

#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_ACK 0x10

/* A small direct-mapped cache in front of the decoder's pair dictionaries: most frames of a LAN carry one of a few
 * hundred address pairs, and looking one up here costs no bytes object and no dictionary hash. An entry holds the
 * text pair the decoder made for those raw bytes (a pure function of them, so one cache serves every decoder); a
 * colliding pair replaces it. */
#define PAIR_SLOTS 4096
typedef struct {
    uint8_t key[12];
    PyObject *pair;
} pair_slot;
static pair_slot mac_slots[PAIR_SLOTS];
static pair_slot ip_slots[PAIR_SLOTS];

static inline pair_slot *slot_for(pair_slot *slots, const uint8_t *raw, Py_ssize_t n) {
    uint64_t a, b = 0;
    memcpy(&a, raw, 8);
    if (n > 8) memcpy(&b, raw + 8, (size_t)(n - 8));
    uint64_t h = (a ^ (b * 0x9E3779B97F4A7C15ULL)) * 0xFF51AFD7ED558CCDULL;
    return &slots[(h >> 40) & (PAIR_SLOTS - 1)];
}

static PyObject *pair_of(PyObject *cache, PyObject *fill, const uint8_t *raw, Py_ssize_t n) {
    pair_slot *slot = slot_for(n == 12 ? mac_slots : ip_slots, raw, n);
    if (slot->pair != NULL && memcmp(slot->key, raw, (size_t)n) == 0) {
        Py_INCREF(slot->pair);
        return slot->pair;
    }
    PyObject *key = PyBytes_FromStringAndSize((const char *)raw, n);
    if (key == NULL) return NULL;
    PyObject *pair = PyDict_GetItemWithError(cache, key); /* borrowed */
    if (pair != NULL) {
        Py_DECREF(key);
        Py_INCREF(pair);
    } else if (PyErr_Occurred()) {
        Py_DECREF(key);
        return NULL;
    } else {
        pair = PyObject_CallOneArg(fill, key);
        Py_DECREF(key);
        if (pair == NULL) return NULL;
    }
    if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2) {
        Py_DECREF(pair);
        PyErr_SetString(PyExc_TypeError, "an address pair must be a tuple of two");
        return NULL;
    }
    Py_XSETREF(slot->pair, Py_NewRef(pair));
    memcpy(slot->key, raw, (size_t)n);
    return pair;
}

/* Port numbers as Python ints, made once each (CPython keeps only the small ones). */
static PyObject *port_ints[65536];

static PyObject *port_int(unsigned int port) {
    PyObject *n = port_ints[port & 0xffff];
    if (n == NULL) {
        n = PyLong_FromUnsignedLong(port & 0xffff);
        if (n == NULL) return NULL;
        port_ints[port & 0xffff] = n; /* kept for the life of the process */
    }
    Py_INCREF(n);
    return n;
}

static int in_set(PyObject *set, unsigned int port) {
    PyObject *n = port_int(port);
    if (n == NULL) return -1;
    int r = PySet_Contains(set, n);
    Py_DECREF(n);
    return r;
}

/* A NamedTuple (a tuple subclass without a __dict__) of n items, filled by the caller with new references, the way
 * tuple.__new__(cls, items) makes it. Python 3.14 caches a tuple's hash in the object: there the items go through
 * tuple.__new__ itself. */
#if PY_VERSION_HEX >= 0x030E0000
#define DIRECT_ALLOC 0
#else
#define DIRECT_ALLOC 1
#endif

static PyObject *make(PyTypeObject *cls, PyObject **items, Py_ssize_t n) {
#if DIRECT_ALLOC
    PyObject *obj = cls->tp_alloc(cls, n);
    if (obj == NULL) {
        for (Py_ssize_t i = 0; i < n; i++) Py_DECREF(items[i]);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) PyTuple_SET_ITEM(obj, i, items[i]);
    return obj;
#else
    PyObject *tuple = PyTuple_New(n);
    if (tuple == NULL) {
        for (Py_ssize_t i = 0; i < n; i++) Py_DECREF(items[i]);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) PyTuple_SET_ITEM(tuple, i, items[i]);
    PyObject *args = PyTuple_Pack(1, tuple);
    Py_DECREF(tuple);
    if (args == NULL) return NULL;
    PyObject *obj = PyTuple_Type.tp_new(cls, args, NULL);
    Py_DECREF(args);
    return obj;
#endif
}

static inline PyObject *ref(PyObject *o) {
    Py_INCREF(o);
    return o;
}

/* The contents of a watched frame on the fast path, as Decoder._fast_data makes them: a PacketData, None when the
 * frame carries nothing the watch asks for, NULL on error. The watch is (tcp_ports, flow_ports, max_payload). */
static PyObject *watched_data(PyObject *buf_obj, const uint8_t *f, uint64_t off, uint32_t caplen, double ts,
                              PyObject *watch, PyObject *packet_data, PyObject *s_tcp, PyObject *src_mac,
                              PyObject *dst_mac, PyObject *saddr, PyObject *daddr, unsigned int sport,
                              unsigned int dport, unsigned int doff) {
    PyObject *tcp_ports = PyTuple_GET_ITEM(watch, 0), *flow_ports = PyTuple_GET_ITEM(watch, 1);
    Py_ssize_t max_payload = PyLong_AsSsize_t(PyTuple_GET_ITEM(watch, 2));
    if (max_payload < 0) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "max_payload below zero");
        return NULL;
    }
    unsigned int total_len = load16(f + 16), ttl = f[22], flags = f[47];
    uint32_t seq = load32(f + 38), ack = load32(f + 42);
    uint64_t data = off + 34 + (uint64_t)(doff >> 4) * 4, end = off + caplen;
    if (total_len >= 20 && off + 14 + total_len < end) end = off + 14 + total_len; /* Ethernet padding */
    if (data > end) Py_RETURN_NONE;
    int followed = 0;
    if (!(flags & F_SYN)) {
        followed = in_set(flow_ports, sport);
        if (followed == 0) followed = in_set(flow_ports, dport);
        if (followed < 0) return NULL;
    }
    if (!followed) {
        if (data == end) Py_RETURN_NONE;
        int asked = in_set(tcp_ports, sport);
        if (asked == 0) asked = in_set(tcp_ports, dport);
        if (asked < 0) return NULL;
        if (!asked) Py_RETURN_NONE;
    }
    uint64_t stop = data + (uint64_t)max_payload < end ? data + (uint64_t)max_payload : end;
    Py_buffer view;
    if (PyObject_GetBuffer(buf_obj, &view, PyBUF_SIMPLE) < 0) return NULL;
    PyObject *payload = PyBytes_FromStringAndSize((const char *)view.buf + data, (Py_ssize_t)(stop - data));
    PyBuffer_Release(&view);
    PyObject *when = PyFloat_FromDouble(ts), *sp = port_int(sport), *dp = port_int(dport);
    PyObject *fl = PyLong_FromUnsignedLong(flags), *sq = PyLong_FromUnsignedLong(seq);
    PyObject *ak = PyLong_FromUnsignedLong(ack), *tl = PyLong_FromUnsignedLong(ttl);
    if (!payload || !when || !sp || !dp || !fl || !sq || !ak || !tl) {
        Py_XDECREF(payload);
        Py_XDECREF(when);
        Py_XDECREF(sp);
        Py_XDECREF(dp);
        Py_XDECREF(fl);
        Py_XDECREF(sq);
        Py_XDECREF(ak);
        Py_XDECREF(tl);
        return NULL;
    }
    PyObject *items[14] = {when, ref(s_tcp), ref(src_mac), ref(dst_mac), ref(saddr), ref(daddr), sp, dp, fl, sq, ak,
                           tl, payload, ref(Py_None)};
    return make((PyTypeObject *)packet_data, items, 14);
}

static PyObject *fast_decode(PyObject *module, PyObject *args) {
    Py_buffer view;
    PyObject *buf_obj, *records_obj, *out, *mac_pairs, *ip_pairs, *mac_fill, *ip_fill, *watched, *watch, *other;
    PyObject *attempt, *response, *packet_data, *names;
    int wide;
    (void)module;
    if (!PyArg_ParseTuple(args, "OSpO!O!O!OOOOOOOOO!", &buf_obj, &records_obj, &wide, &PyList_Type, &out,
                          &PyDict_Type, &mac_pairs, &PyDict_Type, &ip_pairs, &mac_fill, &ip_fill, &watched, &watch,
                          &other, &attempt, &response, &packet_data, &PyTuple_Type, &names))
        return NULL;
    if (PyTuple_GET_SIZE(names) != 4 || !PyType_Check(attempt) || !PyType_Check(response) ||
        !PyType_Check(packet_data) || (watched != Py_None && !PyAnySet_Check(watched)) ||
        (watched != Py_None && !(PyTuple_Check(watch) && PyTuple_GET_SIZE(watch) == 3 &&
                                 PyAnySet_Check(PyTuple_GET_ITEM(watch, 0)) &&
                                 PyAnySet_Check(PyTuple_GET_ITEM(watch, 1)) && PyLong_Check(PyTuple_GET_ITEM(watch, 2))))) {
        PyErr_SetString(PyExc_TypeError, "decode: bad arguments");
        return NULL;
    }
    if (PyObject_GetBuffer(buf_obj, &view, PyBUF_SIMPLE) < 0) return NULL;
    PyObject *s_tcp = PyTuple_GET_ITEM(names, 0), *s_synack = PyTuple_GET_ITEM(names, 1);
    PyObject *s_rstack = PyTuple_GET_ITEM(names, 2), *s_rst = PyTuple_GET_ITEM(names, 3);
    const uint8_t *buf = (const uint8_t *)view.buf;
    const Py_ssize_t buflen = view.len;
    const char *rec = PyBytes_AS_STRING(records_obj);
    const Py_ssize_t size = wide ? 20 : 16;
    const Py_ssize_t count = PyBytes_GET_SIZE(records_obj) / size;
    Py_ssize_t decoded = 0, ignored = 0;
    double ts = 0.0;
    for (Py_ssize_t i = 0; i < count; i++, rec += size) {
        uint32_t sec, usec, caplen;
        uint64_t off;
        memcpy(&sec, rec, 4);
        memcpy(&usec, rec + 4, 4);
        if (wide) {
            memcpy(&off, rec + 8, 8);
            memcpy(&caplen, rec + 16, 4);
        } else {
            uint32_t off32;
            memcpy(&off32, rec + 8, 4);
            off = off32;
            memcpy(&caplen, rec + 12, 4);
        }
        if (off > (uint64_t)buflen || caplen > (uint64_t)buflen - off) {
            PyErr_SetString(PyExc_ValueError, "decode: a record lies outside the buffer");
            goto fail;
        }
        ts = (double)sec + (double)usec * 1e-6;
        const uint8_t *f = buf + off;
        int fast = caplen >= 54 && f[12] == 0x08 && f[13] == 0x00 && f[14] == 0x45 && f[23] == 6 &&
                   !(load16(f + 20) & 0x1fff) && f[46] >= 0x50;
        unsigned int sport = 0, dport = 0;
        int w = 0;
        if (fast) {
            sport = load16(f + 34);
            dport = load16(f + 36);
            if (watched != Py_None) {
                w = in_set(watched, sport);
                if (w == 0) w = in_set(watched, dport);
                if (w < 0) goto fail;
            }
        }
        if (!fast) {
            PyObject *r = PyObject_CallFunction(other, "kkKk", (unsigned long)sec, (unsigned long)usec,
                                                (unsigned long long)off, (unsigned long)caplen);
            if (r == NULL) goto fail;
            Py_DECREF(r);
            continue;
        }
        unsigned int flags = f[47], doff = f[46], win = load16(f + 48);
        int is_attempt = (flags & (F_SYN | F_ACK)) == F_SYN || !(flags & (F_SYN | F_RST | F_ACK)) ||
                         ((flags & 0x3f) == F_ACK && doff >> 4 == 5 &&
                          (win == 1024 || win == 2048 || win == 3072 || win == 4096));
        int is_response = !is_attempt && (flags & (F_SYN | F_RST));
        if (!is_attempt && !is_response && !w) {
            ignored++;
            continue;
        }
        PyObject *macs = pair_of(mac_pairs, mac_fill, f, 12);
        if (macs == NULL) goto fail;
        PyObject *ips = pair_of(ip_pairs, ip_fill, f + 26, 8);
        if (ips == NULL) {
            Py_DECREF(macs);
            goto fail;
        }
        PyObject *dst_mac = PyTuple_GET_ITEM(macs, 0), *src_mac = PyTuple_GET_ITEM(macs, 1);
        PyObject *saddr = PyTuple_GET_ITEM(ips, 0), *daddr = PyTuple_GET_ITEM(ips, 1);
        PyObject *data = NULL; /* the watched frame's contents, appended after its observation */
        if (w) {
            data = watched_data(buf_obj, f, off, caplen, ts, watch, packet_data, s_tcp, src_mac, dst_mac, saddr,
                                daddr, sport, dport, doff);
            if (data == NULL) {
                Py_DECREF(macs);
                Py_DECREF(ips);
                goto fail;
            }
            if (data == Py_None) Py_CLEAR(data);
        }
        if (!is_attempt && !is_response) {
            ignored++;
            Py_DECREF(macs);
            Py_DECREF(ips);
            if (data != NULL) {
                int appended = PyList_Append(out, data);
                Py_DECREF(data);
                if (appended < 0) goto fail;
            }
            continue;
        }
        PyObject *obj = NULL;
        PyObject *when = PyFloat_FromDouble(ts);
        PyObject *sp = port_int(sport), *dp = port_int(dport);
        if (when == NULL || sp == NULL || dp == NULL) {
            Py_XDECREF(when);
            Py_XDECREF(sp);
            Py_XDECREF(dp);
        } else if (is_attempt) {
            PyObject *hlen = PyLong_FromLong((long)(doff >> 4) * 4), *fl = PyLong_FromLong((long)flags);
            if (hlen == NULL || fl == NULL) {
                Py_XDECREF(hlen);
                Py_XDECREF(fl);
                Py_DECREF(when);
                Py_DECREF(sp);
                Py_DECREF(dp);
            } else {
                PyObject *items[14] = {when, ref(src_mac), ref(dst_mac), ref(saddr), ref(daddr), ref(s_tcp), sp, dp,
                                       fl, hlen, ref(Py_None), ref(Py_None), ref(Py_None), ref(Py_None)};
                obj = make((PyTypeObject *)attempt, items, 14);
            }
        } else {
            PyObject *kind = (flags & F_SYN) ? s_synack : (flags & F_ACK) ? s_rstack : s_rst;
            PyObject *items[9] = {when, ref(kind), ref(s_tcp), ref(src_mac), ref(saddr), sp, ref(daddr), dp,
                                  ref(Py_None)};
            obj = make((PyTypeObject *)response, items, 9);
        }
        Py_DECREF(macs);
        Py_DECREF(ips);
        if (obj == NULL) {
            Py_XDECREF(data);
            goto fail;
        }
        int appended = PyList_Append(out, obj);
        Py_DECREF(obj);
        if (appended == 0 && data != NULL) appended = PyList_Append(out, data);
        Py_XDECREF(data);
        if (appended < 0) goto fail;
        decoded++;
    }
    PyBuffer_Release(&view);
    return Py_BuildValue("(nnd)", decoded, ignored, ts);
fail:
    PyBuffer_Release(&view);
    return NULL;
}

static PyMethodDef module_methods[] = {
    {"decode", (PyCFunction)fast_decode, METH_VARARGS,
     "decode(buffer, records, wide, out, mac_pairs, ip_pairs, mac_pair, ip_pair, watched, watch, other, attempt, "
     "response, packet_data, names) -> (decoded, ignored, last_ts)"},
    {NULL, NULL, 0, NULL},
};

static PyMethodDef Program_methods[] = {
    {"run", (PyCFunction)Program_run, METH_VARARGS, "run(packet, wirelen=-1) -> the program's return value"},
    {"walk", (PyCFunction)Program_walk, METH_VARARGS,
     "walk(buffer, pos, end, swapped, nanoseconds, maxcap, limit) -> (matches, pos, status, damaged)"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ProgramType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "mamori.capture._pcapwalk.Program",
    .tp_basicsize = sizeof(ProgramObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A validated classic BPF program, run over pcap records in memory.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Program_init,
    .tp_dealloc = (destructor)Program_dealloc,
    .tp_methods = Program_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_pcapwalk", "Walks classic pcap records in memory through a BPF program; decodes.", -1,
    module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__pcapwalk(void) {
    if (PyType_Ready(&ProgramType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    Py_INCREF(&ProgramType);
    if (PyModule_AddObject(m, "Program", (PyObject *)&ProgramType) < 0) {
        Py_DECREF(&ProgramType);
        Py_DECREF(m);
        return NULL;
    }
    PyModule_AddIntConstant(m, "MORE", WALK_MORE);
    PyModule_AddIntConstant(m, "END", WALK_END);
    PyModule_AddIntConstant(m, "TRUNCATED", WALK_TRUNCATED);
    PyModule_AddIntConstant(m, "BOGUS", WALK_BOGUS);
    return m;
}
