/*
 * sort_probe.c - glibc's order against scio_sort_like_glibc's, for
 * tests/test_sortaddr.py.  Each line of stdin is
 *     NAME FAMILY ADDR...
 * (FAMILY 4 or 6; the ADDRs in the order the hosts file lists them for
 * NAME).  For each line it prints
 *     NAME glibc A,B,... scio A,B,...
 * glibc's being getaddrinfo(NAME, FAMILY, SOCK_STREAM)'s order, scio's
 * that of scio_sort_like_glibc over the ADDRs ("-1" when it declined).
 * With the argument "scio-only" it makes no lookup; a second argument
 * "mark" brackets each lookup and each sort with getppid(), for counting
 * their system calls under strace ("both mark": lookups and sorts).
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sortaddr.h"

#define MAX_ADDRS 64

static void print_addr(const struct sockaddr_storage *ss, int first)
{
	char text[INET6_ADDRSTRLEN];
	const void *bits = ss->ss_family == AF_INET6
		? (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr
		: (const void *)&((const struct sockaddr_in *)ss)->sin_addr;
	inet_ntop(ss->ss_family, bits, text, sizeof(text));
	printf("%s%s", first ? "" : ",", text);
}

static void print_glibc(const char *name, int family, int mark)
{
	struct addrinfo hints = { .ai_family = family, .ai_socktype = SOCK_STREAM }, *res;
	if (mark)
		syscall(SYS_getppid);
	int rc = getaddrinfo(name, "7000", &hints, &res);
	if (mark)
		syscall(SYS_getppid);
	if (rc != 0) {
		printf("error:%d", rc);
		return;
	}
	int first = 1;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next, first = 0) {
		struct sockaddr_storage ss;
		memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
		print_addr(&ss, first);
	}
	freeaddrinfo(res);
}

static void print_scio(struct sockaddr_storage *a, size_t n, int mark)
{
	if (mark)
		syscall(SYS_getppid);
	int rc = scio_sort_like_glibc(a, n);
	if (mark)
		syscall(SYS_getppid);
	if (rc != 0) {
		printf("%d", rc);
		return;
	}
	for (size_t i = 0; i < n; i++)
		print_addr(&a[i], i == 0);
}

static size_t parse_addrs(char *rest, int family, struct sockaddr_storage *a)
{
	size_t n = 0;
	char *save;
	for (char *w = strtok_r(rest, " \t\n", &save); w && n < MAX_ADDRS;
	     w = strtok_r(NULL, " \t\n", &save), n++) {
		memset(&a[n], 0, sizeof(a[n]));
		if (family == AF_INET6) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a[n];
			s6->sin6_family = AF_INET6;
			s6->sin6_port = htons(7000);
			if (inet_pton(AF_INET6, w, &s6->sin6_addr) != 1)
				exit(2);
		} else {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&a[n];
			s4->sin_family = AF_INET;
			s4->sin_port = htons(7000);
			if (inet_pton(AF_INET, w, &s4->sin_addr) != 1)
				exit(2);
		}
	}
	return n;
}

int main(int argc, char **argv)
{
	int scio_only = argc > 1 && strcmp(argv[1], "scio-only") == 0;
	int mark = argc > 2 && strcmp(argv[2], "mark") == 0;
	char line[4096];
	static struct sockaddr_storage a[MAX_ADDRS];
	while (fgets(line, sizeof(line), stdin)) {
		char name[256], fam[8];
		int used = 0;
		if (sscanf(line, "%255s %7s %n", name, fam, &used) != 2)
			continue;
		int family = strcmp(fam, "6") == 0 ? AF_INET6 : AF_INET;
		size_t n = parse_addrs(line + used, family, a);
		printf("%s", name);
		if (!scio_only) {
			printf(" glibc ");
			print_glibc(name, family, mark);
		}
		printf(" scio ");
		print_scio(a, n, mark);
		printf("\n");
		fflush(stdout);
	}
	return 0;
}
