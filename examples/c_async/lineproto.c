/* lineproto: see lineproto.h.  Written as blocking C code is: a buffered
 * reader and writer on the stack, a loop over lines, and a flush whenever
 * the reader is about to block. */
#include "lineproto.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

enum { IN_SIZE = 512, OUT_SIZE = 512, LINE_MAX_LEN = 256 };

struct conn {
    lineproto_read_fn *rd;
    lineproto_write_fn *wr;
    void *ctx;
    size_t in_pos, in_len, out_len;
    char in[IN_SIZE];
    char out[OUT_SIZE];
};

/* Write out everything buffered: 0, or -1 (errno from the callback). */
static int flush(struct conn *c)
{
    size_t done = 0;
    while (done < c->out_len) {
        long n = c->wr(c->ctx, c->out + done, c->out_len - done);
        if (n <= 0)
            return -1;
        done += (size_t)n;
    }
    c->out_len = 0;
    return 0;
}

/* Append a reply, flushing first if it does not fit. */
static int put(struct conn *c, const char *s, size_t len)
{
    if (c->out_len + len > OUT_SIZE && flush(c) != 0)
        return -1;
    memcpy(c->out + c->out_len, s, len);
    c->out_len += len;
    return 0;
}

/* The next byte: 0..255, -2 at the end of the input, -1 on an error.
 * Before blocking on the read callback, the replies so far go out. */
static int next_byte(struct conn *c)
{
    if (c->in_pos == c->in_len) {
        long n;
        if (flush(c) != 0)
            return -1;
        n = c->rd(c->ctx, c->in, IN_SIZE);
        if (n < 0)
            return -1;
        if (n == 0)
            return -2;
        c->in_pos = 0;
        c->in_len = (size_t)n;
    }
    return (unsigned char)c->in[c->in_pos++];
}

/* The reply to one line: the sum of its integers, or "error". */
static size_t answer(const char *line, size_t len, char *reply, size_t cap)
{
    long long sum = 0, value = 0;
    int in_number = 0, negative = 0, ok = 1;
    size_t i;
    for (i = 0; i <= len && ok; i++) {
        char ch = i < len ? line[i] : ' ';
        if (ch >= '0' && ch <= '9') {
            if (value > 100000000000000000LL)
                ok = 0; /* too large for the sum */
            value = value * 10 + (ch - '0');
            in_number = 1;
        } else if (ch == '-' && !in_number && !negative) {
            negative = 1;
        } else if (ch == ' ' || ch == '\t' || ch == '\r') {
            if (negative && !in_number)
                ok = 0;
            sum += negative ? -value : value;
            value = 0;
            in_number = negative = 0;
        } else {
            ok = 0;
        }
    }
    if (!ok)
        return (size_t)snprintf(reply, cap, "error\n");
    return (size_t)snprintf(reply, cap, "%lld\n", sum);
}

long lineproto_serve(lineproto_read_fn *rd, lineproto_write_fn *wr,
                     void *ctx)
{
    struct conn c;
    char line[LINE_MAX_LEN];
    char reply[32];
    size_t len = 0;
    long lines = 0;

    c.rd = rd;
    c.wr = wr;
    c.ctx = ctx;
    c.in_pos = c.in_len = c.out_len = 0;
    for (;;) {
        int b = next_byte(&c);
        if (b == -1)
            return -1;
        if (b == -2) {
            /* The end of the input: a last line without newline counts. */
            if (len > 0) {
                size_t n = answer(line, len, reply, sizeof(reply));
                if (put(&c, reply, n) != 0)
                    return -1;
                lines++;
            }
            return flush(&c) == 0 ? lines : -1;
        }
        if (b == '\n') {
            size_t n = answer(line, len, reply, sizeof(reply));
            if (put(&c, reply, n) != 0)
                return -1;
            lines++;
            len = 0;
        } else if (len < LINE_MAX_LEN) {
            line[len++] = (char)b;
        } else {
            /* Too long: answered as an error, whatever follows. */
            line[0] = 'x';
            len = 1;
        }
    }
}
