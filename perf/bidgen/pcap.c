/* SPDX-License-Identifier: BSD-3-Clause */
#include "pcap.h"

#include <errno.h>
#include <string.h>

int pcap_open(struct pcap_writer *w, const char *path, uint64_t max_frames)
{
	/* magic, version 2.4, thiszone, sigfigs, snaplen, linktype Ethernet */
	const uint32_t hdr[6] = {0xa1b2c3d4, 0x00040002, 0, 0, 65535, 1};
	w->f = fopen(path, "wb");
	if (!w->f)
		return -errno;
	w->left = max_frames;
	if (fwrite(hdr, sizeof(hdr), 1, w->f) != 1)
		return -EIO;
	return 0;
}

void pcap_write(struct pcap_writer *w, const uint8_t *frame, uint32_t len, uint64_t usec)
{
	if (!w->f || w->left == 0)
		return;
	const uint32_t rec[4] = {(uint32_t)(usec / 1000000), (uint32_t)(usec % 1000000), len, len};
	fwrite(rec, sizeof(rec), 1, w->f);
	fwrite(frame, len, 1, w->f);
	w->left--;
}

void pcap_close(struct pcap_writer *w)
{
	if (w->f)
		fclose(w->f);
	w->f = NULL;
}
