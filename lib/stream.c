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
	char *buf;
	size_t cap;
	size_t start, end;  /* unread bytes are buf[start..end) */
	int eof;
	int skipping;       /* discarding the rest of a line that did not fit */
};

struct scio_stream *scio_stream_open(int fd)
{
	if (fd < 0 || fcntl(fd, F_GETFD) < 0) {
		errno = EBADF;
		return NULL;
	}
	struct scio_stream *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->buf = malloc(STREAM_BUF);
	if (!s->buf) {
		free(s);
		return NULL;
	}
	s->fd = fd;
	s->cap = STREAM_BUF;
	return s;
}

/* Reads more bytes after the unread ones, growing the buffer up to
 * `want` bytes if it is full: 1 when some came, 0 at EOF, -1 on error
 * (nothing is lost: a later call goes on where this one stopped). */
static int fill(struct scio_stream *s, size_t want)
{
	if (s->start > 0) {
		memmove(s->buf, s->buf + s->start, s->end - s->start);
		s->end -= s->start;
		s->start = 0;
	}
	if (s->end == s->cap && s->cap < want) {
		char *bigger = realloc(s->buf, want);
		if (!bigger)
			return -1;
		s->buf = bigger;
		s->cap = want;
	}
	for (;;) {
		ssize_t n = read(s->fd, s->buf + s->end, s->cap - s->end);
		if (n > 0) {
			s->end += (size_t)n;
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

/* Gives the caller what fits of a line that is too long; the rest of it
 * is skipped by the following calls. */
static ssize_t too_long(struct scio_stream *s, char *buf, size_t size,
			size_t consumed, int more_follows)
{
	memcpy(buf, s->buf + s->start, size - 1);
	buf[size - 1] = '\0';
	s->start += consumed;
	s->skipping = more_follows;
	errno = EMSGSIZE;
	return -1;
}

/*
 * Nothing is taken from the stream until a whole line is there (or the
 * line is known to be too long), so a read error or timeout in the middle
 * of a line loses nothing.
 */
ssize_t scio_getline(struct scio_stream *s, char *buf, size_t size)
{
	if (!s || !buf || size == 0) {
		errno = EINVAL;
		return -1;
	}
	for (;;) {
		char *p = s->buf + s->start;
		size_t avail = s->end - s->start;
		char *nl = memchr(p, '\n', avail);

		if (s->skipping) {
			s->start += nl ? (size_t)(nl - p) + 1 : avail;
			s->skipping = !nl;
			if (nl)
				continue;
		} else if (nl) {
			size_t len = (size_t)(nl - p), line = len;
			if (line > 0 && p[line - 1] == '\r')
				line--;
			if (line > size - 1)
				return too_long(s, buf, size, len + 1, 0);
			memcpy(buf, p, line);
			buf[line] = '\0';
			s->start += len + 1;
			return (ssize_t)line;
		} else if (avail > size || (avail == size && p[size - 1] != '\r')) {
			/* size-1 bytes and a CR could still end well; more cannot */
			return too_long(s, buf, size, avail, 1);
		}
		if (s->eof) {
			if (s->start == s->end)
				return 0;
			size_t n = avail < size - 1 ? avail : size - 1;
			memcpy(buf, s->buf + s->start, n);
			buf[n] = '\0';
			s->start = s->end;
			errno = EPROTO;
			return -1;
		}
		if (fill(s, size + 1 > STREAM_BUF ? size + 1 : STREAM_BUF) < 0)
			return -1;
	}
}

int scio_stream_eof(const struct scio_stream *s)
{
	return s && s->eof && s->start == s->end;
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
	free(s->buf);
	free(s);
	return rc;
}
