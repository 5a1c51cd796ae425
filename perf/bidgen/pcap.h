/* SPDX-License-Identifier: BSD-3-Clause */
/* A classic libpcap file of the first N frames written (Ethernet, us). */
#ifndef BIDGEN_PCAP_H
#define BIDGEN_PCAP_H

#include <stdint.h>
#include <stdio.h>

struct pcap_writer {
	FILE *f;
	uint64_t left;
};

int pcap_open(struct pcap_writer *w, const char *path, uint64_t max_frames);
/* Writes the frame while fewer than max_frames were written. */
void pcap_write(struct pcap_writer *w, const uint8_t *frame, uint32_t len, uint64_t usec);
void pcap_close(struct pcap_writer *w);

#endif
