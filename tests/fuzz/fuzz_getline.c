/* fuzz_getline.c - scio_getline on arbitrary byte streams: the first
 * byte picks the caller's buffer size, the rest is what the peer sends. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "scio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 60000)
		return 0;
	size_t bufsize = data[0] % 64 + 1;
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) < 0)
		return 0;
	int big = 1 << 20;
	setsockopt(sp[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	if (write(sp[1], data + 1, size - 1) != (ssize_t)(size - 1)) {
		close(sp[0]);
		close(sp[1]);
		return 0;
	}
	close(sp[1]);
	struct scio_stream *s = scio_stream_open(sp[0]);
	char *buf = malloc(bufsize);
	size_t lines = 0;
	for (;;) {
		ssize_t n = scio_getline(s, buf, bufsize);
		if (n >= 0 && (size_t)n >= bufsize)
			abort();
		if (n >= 0 && memchr(buf, '\n', (size_t)n))
			abort();
		if ((n == 0 && scio_stream_eof(s)) || (n < 0 && scio_stream_eof(s)))
			break;
		if (++lines > size + 2)
			abort();  /* no progress: would loop forever */
	}
	free(buf);
	scio_stream_close(s);
	return 0;
}
