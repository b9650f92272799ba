/*
 * scan.h: the resumable msgpack scanner behind proto_scan and the reader.
 * Private to proto/.
 */
#ifndef HELIX_PROTO_SCAN_H
#define HELIX_PROTO_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"

/*
 * Scan state of one object, relative to its first byte.  Bytes are looked
 * at once: a header cut short is read again (at most 9 bytes), a str/bin/ext
 * body is skipped over whole, even past the bytes present so far.
 */
struct proto_scanner {
	size_t		 max_message;
	unsigned	 max_depth;
	size_t		 pos;		/* next header, from the object start */
	uint64_t	 need;		/* elements still due, >= 1 byte each */
	unsigned	 depth;		/* open containers */
	uint64_t	 left[PROTO_MAX_DEPTH]; /* elements due per container */
};

void	proto_scan_init(struct proto_scanner *, size_t max_message,
	    unsigned max_depth);
/* Forget the object scanned so far and expect a new one. */
void	proto_scan_reset(struct proto_scanner *);
/*
 * Continue over buf[0..len), the same object's bytes as before plus any
 * new ones; returns like proto_scan.  After a result other than 0 the
 * scanner must be reset before it is used again.
 */
long	proto_scan_resume(struct proto_scanner *, const unsigned char *buf,
	    size_t len);

#endif /* HELIX_PROTO_SCAN_H */
