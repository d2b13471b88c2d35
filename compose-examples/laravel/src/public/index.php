<?php
// Placeholder until a Laravel project is created in src/ (see README.md).
// It proves the chain: nginx -> php-fpm -> mysql, all by compose service name.

$host = 'mysql';
$db = 'homestead';
$user = 'homestead';
$pass = 'secret';

header('Content-Type: text/plain');
echo "PHP " . PHP_VERSION . " behind nginx\n";

try {
    $pdo = new PDO("mysql:host=$host;dbname=$db", $user, $pass, [
        PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
        PDO::ATTR_TIMEOUT => 3,
    ]);
    $version = $pdo->query('SELECT VERSION()')->fetchColumn();
    echo "MySQL $version reachable as $user@$host/$db\n";
} catch (PDOException $e) {
    http_response_code(503);
    echo "MySQL not reachable yet: " . $e->getMessage() . "\n";
}
