# Stand-in for nginx:1.27-bookworm: Debian's nginx (1.22), configured as the official image is:
# /etc/nginx/conf.d/*.conf is the server (no Debian default site), logs go to the container's
# output, SIGQUIT stops it gracefully.
FROM quietday-standin/debian:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends nginx \
    && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/* \
    && ln -sf /dev/stdout /var/log/nginx/access.log \
    && ln -sf /dev/stderr /var/log/nginx/error.log
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
