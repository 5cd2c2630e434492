# Stand-in for python:3.11-slim-bookworm: Debian's python3 (3.11) with venv, as `python` on PATH.
# pip trusts the machine's CA bundle, as the machine's own pip does (PIP_CERT).
FROM quietday-standin/debian:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends \
        python3 python3-venv python-is-python3 ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV LANG=C.UTF-8 PIP_CERT=/etc/ssl/certs/ca-certificates.crt
CMD ["python3"]
