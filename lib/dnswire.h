#ifndef SCIO_DNSWIRE_H
#define SCIO_DNSWIRE_H
#include <stddef.h>
#include <stdint.h>
#define SCIO_DNS_T_A     1
#define SCIO_DNS_T_AAAA  28
#define SCIO_DNS_QUERY_MAX 288
struct scio_dns_addr { int family; unsigned char addr[16]; };
int scio_dns_query(unsigned char *buf, size_t size, const char *name, uint16_t id, uint16_t qtype);
enum scio_dns_verdict { SCIO_DNS_NOT_OURS, SCIO_DNS_ANSWER, SCIO_DNS_FALLBACK };
enum scio_dns_verdict scio_dns_answer(const unsigned char *msg, size_t len,
				      const unsigned char *query, size_t qlen,
				      struct scio_dns_addr *out, size_t max, size_t *n);
#endif
