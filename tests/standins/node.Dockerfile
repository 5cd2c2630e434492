# Stand-in for node:20-bookworm-slim (the API image's npm stage): Debian's nodejs (18) and npm,
# trusting the machine's CA bundle as the machine's own npm does (NODE_EXTRA_CA_CERTS).
FROM quietday-standin/debian:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
CMD ["node"]
