/* fuzz_answers.c - the getaddrinfo answer bookkeeping under arbitrary
 * answers and lookups: each input byte pair is one operation. */
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addrs.h"
#include "answers.h"

static struct scio_answers table;

static void make_addr(uint8_t b, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (b & 1) {
		struct sockaddr_in6 *in6 = (void *)ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_addr.s6_addr[15] = b >> 2;
		in6->sin6_port = htons((uint16_t)(b & 2 ? 80 : 0));
		*len = sizeof(*in6);
	} else {
		struct sockaddr_in *in = (void *)ss;
		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(0xc0000200u | (b >> 2));
		in->sin_port = htons((uint16_t)(b & 2 ? 80 : 0));
		*len = sizeof(*in);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	if (!init) {
		scio_answers_init(&table);
		init = 1;
	}
	struct addrinfo ai[20];
	struct sockaddr_storage ss[20];
	int64_t now = 1;
	for (size_t i = 0; i + 1 < size; i += 2) {
		uint8_t op = data[i], arg = data[i + 1];
		now += op;
		switch (op % 5) {
		case 0: {  /* record an answer of arg%20 addresses */
			size_t n = arg % 20;
			for (size_t k = 0; k < n; k++) {
				socklen_t len;
				make_addr((uint8_t)(arg + k * 7), &ss[k], &len);
				ai[k] = (struct addrinfo){ .ai_family = ss[k].ss_family,
					.ai_addr = (struct sockaddr *)&ss[k], .ai_addrlen = len,
					.ai_next = k + 1 < n ? &ai[k + 1] : NULL };
			}
			scio_answers_record(&table, (arg & 1) ? "a.test" : "b.test",
					    n ? ai : NULL,
					    (arg & 2 ? SCIO_ANSWER_PENDING : 0) |
					    (arg & 4 ? SCIO_ANSWER_RACEABLE : 0), now);
			break;
		}
		case 1: case 2: {  /* match, then maybe a failure and a replay */
			struct sockaddr_storage dst;
			socklen_t len;
			struct scio_match m;
			make_addr(arg, &dst, &len);
			if (!scio_answers_match(&table, (struct sockaddr *)&dst, now, &m))
				break;
			if (m.n == 0 || m.n > SCIO_ANSWER_BUDGET || m.asked >= m.n)
				abort();
			struct sockaddr_storage cand[40];
			int errors[40] = { 0 };
			size_t n = scio_answers_candidates(&table, &m, cand, 40);
			if (n == 0 || n > m.n || !scio_same_addr((struct sockaddr *)&cand[0],
								(struct sockaddr *)&dst))
				abort();  /* the destination comes first */
			errors[arg % n] = 111;
			if (op % 5 == 2)
				scio_answers_failed(&table, &m, cand, errors, n, now);
			scio_answers_take_replay(&table, &m, now);
			struct sockaddr_storage more[4];
			int pending;
			scio_answers_more(&table, &m, m.n, more, 4, &pending, now);
			break;
		}
		case 3: {  /* a late family */
			socklen_t len;
			make_addr(arg, &ss[0], &len);
			ai[0] = (struct addrinfo){ .ai_family = ss[0].ss_family,
				.ai_addr = (struct sockaddr *)&ss[0], .ai_addrlen = len };
			scio_answers_late(&table, (arg & 1) ? "a.test" : "b.test",
					  (arg & 2) ? ai : NULL, now);
			break;
		}
		default:
			now += (int64_t)arg * 10000000;  /* time passes: entries expire */
		}
	}
	return 0;
}
