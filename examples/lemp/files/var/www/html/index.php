<?php
require __DIR__ . '/db.php';
$ok = false;
try {
    $pdo = new PDO("mysql:host=localhost;dbname=$db_name", $db_user, $db_pass);
    $ok = (int)$pdo->query('SELECT 1')->fetchColumn() === 1;
} catch (Exception $e) {
}
echo "LEMP 1-Click: nginx + PHP " . PHP_VERSION . ", database " . ($ok ? "connected" : "NOT connected") . "\n";
