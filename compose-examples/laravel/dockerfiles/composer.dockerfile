FROM composer:2

WORKDIR /var/www/html

# Extensions required by packages are installed in the php image, not in this one.
ENTRYPOINT ["composer", "--ignore-platform-reqs"]
