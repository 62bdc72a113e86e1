/* stream.c - buffered line I/O over a connected socket or pipe. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "scio.h"

#define STREAM_BUF 4096

struct scio_stream {
	int fd;
	size_t start, end;  /* unread bytes are buf[start..end) */
	int eof;
	int skipping;  /* discarding the rest of a line that did not fit */
	char buf[STREAM_BUF];
};

struct scio_stream *scio_stream_open(int fd)
{
	if (fd < 0 || fcntl(fd, F_GETFD) < 0) {
		errno = EBADF;
		return NULL;
	}
	struct scio_stream *s = calloc(1, sizeof(*s));
	if (s)
		s->fd = fd;
	return s;
}

/* Reads more bytes into the (empty) buffer: 1 when some came, 0 at EOF,
 * -1 on error. */
static int fill(struct scio_stream *s)
{
	s->start = s->end = 0;
	for (;;) {
		ssize_t n = read(s->fd, s->buf, sizeof(s->buf));
		if (n > 0) {
			s->end = (size_t)n;
			return 1;
		}
		if (n == 0) {
			s->eof = 1;
			return 0;
		}
		if (errno != EINTR)
			return -1;
	}
}

static ssize_t too_long(char *buf, size_t size)
{
	buf[size - 1] = '\0';
	errno = EMSGSIZE;
	return -1;
}

/*
 * buf briefly holds up to `size` bytes (the NUL's slot included) so that a
 * line of size-1 bytes whose CR arrives in the last slot still fits once
 * the CR is stripped.
 */
ssize_t scio_getline(struct scio_stream *s, char *buf, size_t size)
{
	if (!s || !buf || size == 0) {
		errno = EINVAL;
		return -1;
	}
	size_t have = 0;
	for (;;) {
		char *p = s->buf + s->start;
		size_t avail = s->end - s->start;
		char *nl = memchr(p, '\n', avail);
		size_t len = nl ? (size_t)(nl - p) : avail;

		if (s->skipping) {
			s->start += nl ? len + 1 : len;
			s->skipping = !nl;
		} else {
			size_t n = len < size - have ? len : size - have;
			memcpy(buf + have, p, n);
			have += n;
			s->start += n;
			if (n < len) {
				s->skipping = 1;
				return too_long(buf, size);
			}
			if (nl) {
				s->start++;
				if (have > 0 && buf[have - 1] == '\r')
					have--;
				if (have == size)
					return too_long(buf, size);
				buf[have] = '\0';
				return (ssize_t)have;
			}
		}
		if (s->start < s->end)
			continue;
		int rc = s->eof ? 0 : fill(s);
		if (rc < 0)
			return -1;
		if (rc == 0) {
			s->skipping = 0;
			if (have == 0)
				return 0;
			buf[have < size ? have : size - 1] = '\0';
			errno = EPROTO;
			return -1;
		}
	}
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == ENOTSOCK)
			n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int scio_putline(struct scio_stream *s, const char *line)
{
	if (!s || !line) {
		errno = EINVAL;
		return -1;
	}
	size_t len = strlen(line);
	if (memchr(line, '\r', len) || memchr(line, '\n', len)) {
		errno = EINVAL;  /* one call, one line: no smuggled commands */
		return -1;
	}
	char small[1024];
	if (len + 2 <= sizeof(small)) {
		memcpy(small, line, len);
		memcpy(small + len, "\r\n", 2);
		return write_all(s->fd, small, len + 2);
	}
	if (write_all(s->fd, line, len) < 0)
		return -1;
	return write_all(s->fd, "\r\n", 2);
}

int scio_stream_close(struct scio_stream *s)
{
	if (!s) {
		errno = EINVAL;
		return -1;
	}
	int rc = close(s->fd);
	free(s);
	return rc;
}
