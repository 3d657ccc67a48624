/* lineproto: a small C library in the blocking style, for the async
 * bridge's example and benchmark.  It serves a line protocol over two
 * callbacks: each line holds integers separated by spaces, and the reply
 * is their sum on a line of its own ("error" for a line that is not
 * numbers).  The callbacks block, as read(2) and write(2) do. */
#ifndef LINEPROTO_H
#define LINEPROTO_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Read up to len bytes into buf: how many (> 0), 0 at the end of the
 *  input, -1 with errno set on an error. */
typedef long lineproto_read_fn(void *ctx, char *buf, size_t len);
/** Write up to len bytes from buf: how many (> 0), -1 with errno set. */
typedef long lineproto_write_fn(void *ctx, const char *buf, size_t len);

/** Serve lines until the input ends: the number of lines answered, or -1
 *  with errno as a callback left it (ECANCELED, for one). */
long lineproto_serve(lineproto_read_fn *rd, lineproto_write_fn *wr,
                     void *ctx);

#ifdef __cplusplus
}
#endif

#endif
