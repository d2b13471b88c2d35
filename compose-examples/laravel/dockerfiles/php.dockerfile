FROM php:8.2-fpm-alpine

WORKDIR /var/www/html

RUN docker-php-ext-install pdo pdo_mysql

# The build context is the project root (see compose.yaml), so the source is reachable here.
# In development the bind mount replaces it; the copy makes the image work on its own.
COPY src .

RUN chown -R www-data:www-data /var/www/html
