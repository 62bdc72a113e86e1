#ifndef SCIO_RESCONF_H
#define SCIO_RESCONF_H
#include <sys/socket.h>
#define SCIO_RESCONF_MAXNS 3
struct scio_resconf {
	int nservers;
	struct sockaddr_storage server[SCIO_RESCONF_MAXNS];
	int ndots;
	int timeout_s;
	int attempts;
};
int scio_resconf_get(struct scio_resconf *c);
#endif
