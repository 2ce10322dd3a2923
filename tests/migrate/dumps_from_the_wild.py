"""Dumps in the forms real tools write them, built here (no third-party file is copied).

Each reproduces the features of dumps found in public repositories (the list with repository and
path is in the issue-17 note): MySQL Workbench's Data Export on Windows (CRLF, CREATE DATABASE and
USE before the header, --complete-insert, BIT values as ``_binary`` raw bytes, MySQL 8 collations,
GTID_PURGED with ``/*!80000 '+'*/``), mysqldump --databases with views over stand-in tables,
DEFINERs, routines and triggers and a table re-created mid-dump, mariadb-dump 10.11/11.x (sandbox
line, one row per line, --hex-blob, sequences with SETVAL, system-versioned, partitioned and
generated columns, ``DEFAULT nextval(db.s)``), and the GUI tools' exports (HeidiSQL, SQLyog, Navicat,
Sequel Pro: ``IF NOT EXISTS``, lower-case ``insert  into``, ``#`` comments, no trailer).

``DUMPS`` maps a name to (builder, databases it creates); a builder takes a prefix for the database
names so that every test run loads into names of its own.
"""

from __future__ import annotations

from collections.abc import Callable

C0900 = "utf8mb4_0900_ai_ci"
MYSQL_HEADER = """/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40101 SET @OLD_CHARACTER_SET_RESULTS=@@CHARACTER_SET_RESULTS */;
/*!40101 SET @OLD_COLLATION_CONNECTION=@@COLLATION_CONNECTION */;
/*!50503 SET NAMES utf8mb4 */;
/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;
/*!40103 SET TIME_ZONE='+00:00' */;
/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;
/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;
/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;
/*!40111 SET @OLD_SQL_NOTES=@@SQL_NOTES, SQL_NOTES=0 */;
"""
MYSQL_TRAILER = """/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;
/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;
/*!40014 SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS */;
/*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */;
/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */;
/*!40101 SET CHARACTER_SET_RESULTS=@OLD_CHARACTER_SET_RESULTS */;
/*!40101 SET COLLATION_CONNECTION=@OLD_COLLATION_CONNECTION */;
/*!40111 SET SQL_NOTES=@OLD_SQL_NOTES */;

-- Dump completed on 2025-02-23 20:23:47
"""


def workbench_crlf(p: str) -> bytes:
    """MySQL Workbench 8.0 "Data Export" on Windows, one database, CRLF throughout."""
    text = f"""CREATE DATABASE  IF NOT EXISTS `{p}wb` /*!40100 DEFAULT CHARACTER SET utf8mb4 COLLATE {C0900} */;
USE `{p}wb`;
-- MySQL dump 10.13  Distrib 8.0.33, for Win64 (x86_64)
--
-- Host: 127.0.0.1    Database: {p}wb
-- ------------------------------------------------------
-- Server version\t8.0.33

{MYSQL_HEADER}SET @MYSQLDUMP_TEMP_LOG_BIN = @@SESSION.SQL_LOG_BIN;
SET @@SESSION.SQL_LOG_BIN= 0;

--
-- GTID state at the beginning of the backup 
--

SET @@GLOBAL.GTID_PURGED=/*!80000 '+'*/ '3e11fa47-71ca-11e1-9e33-c80aa9429562:1-17';

--
-- Table structure for table `flags`
--

DROP TABLE IF EXISTS `flags`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!50503 SET character_set_client = utf8mb4 */;
CREATE TABLE `flags` (
  `id` int NOT NULL AUTO_INCREMENT,
  `active` bit(1) NOT NULL DEFAULT b'0',
  `mask` bit(8) DEFAULT NULL,
  `note` varchar(100) COLLATE utf8mb4_0900_ai_ci DEFAULT NULL,
  `payload` blob,
  `meta` json DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `note_idx` (`note`)
) ENGINE=InnoDB AUTO_INCREMENT=5 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `flags`
--

LOCK TABLES `flags` WRITE;
/*!40000 ALTER TABLE `flags` DISABLE KEYS */;
""".encode()
    text += (
        b"INSERT INTO `flags` (`id`, `active`, `mask`, `note`, `payload`, `meta`) VALUES "
        b"(1,_binary '\\0',_binary '\\n','line one\\r\\nline two','\\0\\'\\\"\\\\\\Z raw:\xe9\xff',"
        b'\'{\\"a\\": [1, 2], \\"b\\": \\"\xc3\xa9\\"}\'),'
        b"(2,_binary '\x01',_binary '\r','raw CR \r inside','',NULL),"
        b"(3,_binary '\x01',_binary 'A','emoji \xf0\x9f\x98\x80; semi',NULL,'[]'),"
        b"(4,_binary '\\0',NULL,NULL,NULL,NULL);\n"
    )
    text += f"""/*!40000 ALTER TABLE `flags` ENABLE KEYS */;
UNLOCK TABLES;
SET @@SESSION.SQL_LOG_BIN = @MYSQLDUMP_TEMP_LOG_BIN;
{MYSQL_TRAILER}""".encode()
    return text.replace(b"\n", b"\r\n")


def mysqldump_databases(p: str) -> bytes:
    """mysqldump --databases a b --routines --skip-extended-insert: stand-in tables for views, DEFINERs,
    a view in one database over a table of the other, and a table dropped and re-created later."""
    return f"""-- MySQL dump 10.13  Distrib 5.7.44, for Linux (x86_64)
--
-- Host: db.internal    Database: {p}shop
-- ------------------------------------------------------
-- Server version\t5.7.44-log

{MYSQL_HEADER}
--
-- Current Database: `{p}shop`
--

CREATE DATABASE /*!32312 IF NOT EXISTS*/ `{p}shop` /*!40100 DEFAULT CHARACTER SET utf8mb4 */;

USE `{p}shop`;

DROP TABLE IF EXISTS `orders`;
CREATE TABLE `orders` (
  `id` int(11) NOT NULL,
  `customer` varchar(40) NOT NULL,
  `total` decimal(10,2) DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `customer` (`customer`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

LOCK TABLES `orders` WRITE;
/*!40000 ALTER TABLE `orders` DISABLE KEYS */;
INSERT INTO `orders` VALUES (1,'ann',10.50);
INSERT INTO `orders` VALUES (2,'bob',NULL);
INSERT INTO `orders` VALUES (3,'it''s \\\\ me',0.01);
/*!40000 ALTER TABLE `orders` ENABLE KEYS */;
UNLOCK TABLES;

CREATE TABLE `audit` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `note` varchar(60) DEFAULT NULL,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

--
-- Temporary table structure for view `big_orders`
--

DROP TABLE IF EXISTS `big_orders`;
/*!50001 DROP VIEW IF EXISTS `big_orders`*/;
SET @saved_cs_client     = @@character_set_client;
SET character_set_client = utf8;
/*!50001 CREATE VIEW `big_orders` AS SELECT 
 1 AS `id`,
 1 AS `total`*/;
SET character_set_client = @saved_cs_client;

/*!50003 SET @saved_sql_mode       = @@sql_mode */ ;
/*!50003 SET sql_mode              = 'STRICT_TRANS_TABLES,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION' */ ;
DELIMITER ;;
/*!50003 CREATE*/ /*!50017 DEFINER=`app`@`%`*/ /*!50003 TRIGGER `orders_ai` AFTER INSERT ON `orders` FOR EACH ROW
INSERT INTO audit (note) VALUES (CONCAT('order ', NEW.id, '; added')) */;;
DELIMITER ;
/*!50003 SET sql_mode              = @saved_sql_mode */ ;

--
-- Dumping routines for database '{p}shop'
--
/*!50003 DROP FUNCTION IF EXISTS `vat` */;
DELIMITER ;;
CREATE DEFINER=`app`@`%` FUNCTION `vat`(amount DECIMAL(10,2)) RETURNS decimal(10,2)
    DETERMINISTIC
BEGIN
  DECLARE rate DECIMAL(4,2) DEFAULT 0.20;
  RETURN amount * rate;
END ;;
DELIMITER ;
/*!50003 DROP PROCEDURE IF EXISTS `totals` */;
DELIMITER ;;
CREATE DEFINER=`app`@`%` PROCEDURE `totals`()
    READS SQL DATA
BEGIN
  SELECT customer, SUM(total) FROM orders GROUP BY customer;
END ;;
DELIMITER ;

--
-- Table dropped and re-created later in the same dump (a second export appended)
--

DROP TABLE IF EXISTS `settings`;
CREATE TABLE `settings` (`k` varchar(20) NOT NULL, `v` text, PRIMARY KEY (`k`)) ENGINE=InnoDB;
INSERT INTO `settings` VALUES ('mode','old'),('theme','dark'),('lang','en');
DROP TABLE IF EXISTS `settings`;
CREATE TABLE `settings` (`k` varchar(20) NOT NULL, `v` text, PRIMARY KEY (`k`)) ENGINE=InnoDB;
INSERT INTO `settings` VALUES ('mode','new'),('lang','de');

--
-- Current Database: `{p}report`
--

CREATE DATABASE /*!32312 IF NOT EXISTS*/ `{p}report` /*!40100 DEFAULT CHARACTER SET utf8mb4 */;

USE `{p}report`;

CREATE TABLE `daily` (`day` date NOT NULL, `n` int DEFAULT NULL, PRIMARY KEY (`day`)) ENGINE=InnoDB;
INSERT INTO `daily` VALUES ('2024-01-01',3),('2024-01-02',NULL);

--
-- Final view structure for view `big_orders`
--

USE `{p}shop`;
/*!50001 DROP VIEW IF EXISTS `big_orders`*/;
/*!50001 SET @saved_cs_client          = @@character_set_client */;
/*!50001 CREATE ALGORITHM=UNDEFINED */
/*!50013 DEFINER=`app`@`%` SQL SECURITY DEFINER */
/*!50001 VIEW `big_orders` AS select `orders`.`id` AS `id`,`orders`.`total` AS `total` from `orders`
 where (`orders`.`total` > 1) */;
/*!50001 SET character_set_client      = @saved_cs_client */;

USE `{p}report`;
/*!50001 CREATE ALGORITHM=UNDEFINED */
/*!50013 DEFINER=`app`@`%` SQL SECURITY DEFINER */
/*!50001 VIEW `order_days` AS select `o`.`id` AS `id`,`d`.`day` AS `day`
 from (`{p}shop`.`orders` `o` join `daily` `d`) */;
{MYSQL_TRAILER}""".encode()


def mariadb_dump(p: str) -> bytes:
    """mariadb-dump 11.x of a MariaDB 10.11 database: sandbox line, one row per line, --hex-blob, a
    sequence a column takes its default from (qualified, as the server writes it), system-versioned,
    partitioned and generated columns, /*M!…*/ statements, and no trailer (the dump was cut after its
    last table, as `mariadb-dump --skip-comments` and hand-trimmed dumps end)."""
    return f"""/*M!999999\\- enable the sandbox mode */ 
-- MariaDB dump 10.19-11.4.2-MariaDB, for debian-linux-gnu (x86_64)
--
-- Host: localhost    Database: {p}app
-- ------------------------------------------------------
-- Server version\t10.11.6-MariaDB-0+deb12u1-log

{MYSQL_HEADER.replace("/*!50503", "/*!40101")}/*M!100616 SET @OLD_NOTE_VERBOSITY=@@NOTE_VERBOSITY, NOTE_VERBOSITY=0 */;

USE `{p}app`;

--
-- Sequence structure for `ids`
--

DROP SEQUENCE IF EXISTS `ids`;
CREATE SEQUENCE `ids` start with 100 minvalue 1 maxvalue 9223372036854775806 increment by 1 cache 1000 nocycle
 ENGINE=InnoDB;
DO SETVAL(`ids`, 1041, 0);

DROP TABLE IF EXISTS `items`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `items` (
  `id` bigint(20) NOT NULL DEFAULT nextval(`{p}app`.`ids`),
  `name` varchar(50) NOT NULL,
  `price` decimal(8,2) NOT NULL,
  `qty` int(11) NOT NULL DEFAULT 1,
  `total` decimal(10,2) GENERATED ALWAYS AS (`price` * `qty`) STORED,
  `label` varchar(60) GENERATED ALWAYS AS (concat(`name`,' x',`qty`)) VIRTUAL,
  `image` blob DEFAULT NULL,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

/*!40000 ALTER TABLE `items` DISABLE KEYS */;
INSERT INTO `items` (`id`, `name`, `price`, `qty`, `image`) VALUES (1000,'tea',2.50,4,0x89504E470D0A1A0A00FF),
(1001,'cup;\\nlid',9.99,1,NULL),
(1040,'écru',0.10,100,'');
/*!40000 ALTER TABLE `items` ENABLE KEYS */;

DROP TABLE IF EXISTS `prices`;
CREATE TABLE `prices` (
  `item` bigint(20) NOT NULL,
  `price` decimal(8,2) NOT NULL,
  PRIMARY KEY (`item`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci WITH SYSTEM VERSIONING;

LOCK TABLES `prices` WRITE;
INSERT INTO `prices` VALUES (1000,2.50),
(1001,9.99);
UNLOCK TABLES;

DROP TABLE IF EXISTS `events`;
CREATE TABLE `events` (
  `id` int(11) NOT NULL,
  `at` date NOT NULL,
  `what` varchar(20) DEFAULT NULL,
  PRIMARY KEY (`id`,`at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci
 PARTITION BY RANGE (year(`at`))
(PARTITION `p2023` VALUES LESS THAN (2024) ENGINE = InnoDB,
 PARTITION `p2024` VALUES LESS THAN (2025) ENGINE = InnoDB,
 PARTITION `pmax` VALUES LESS THAN MAXVALUE ENGINE = InnoDB);

LOCK TABLES `events` WRITE;
INSERT INTO `events` VALUES (1,'2023-05-01','a'),
(2,'2024-02-29','b'),
(3,'2031-01-01',NULL);
UNLOCK TABLES;
/*M!100616 SET NOTE_VERBOSITY=@OLD_NOTE_VERBOSITY */;
""".encode()


def gui_exports(p: str) -> bytes:
    """HeidiSQL, SQLyog, Navicat and Sequel Pro habits in one script: IF NOT EXISTS everywhere,
    lower-case ``insert  into`` with column lists, ``#`` comments, a MyISAM table, a ``SET … = …``
    with spaces, REPLACE and INSERT IGNORE rows, and no trailer."""
    return f"""# ************************************************************
# Sequel Pro SQL dump
# Host: 127.0.0.1 (MySQL 5.7.18)
# ************************************************************

/*!40101 SET NAMES utf8 */;
SET FOREIGN_KEY_CHECKS = 0;

-- Dumping database structure for {p}gui
CREATE DATABASE IF NOT EXISTS `{p}gui` /*!40100 DEFAULT CHARACTER SET utf8 COLLATE utf8_unicode_ci */;
USE `{p}gui`;

-- ----------------------------
-- Table structure for players
-- ----------------------------
CREATE TABLE IF NOT EXISTS `players` (
  `ID` int(11) unsigned NOT NULL AUTO_INCREMENT,
  `Name` varchar(50) COLLATE utf8_unicode_ci NOT NULL DEFAULT '',
  `Score` int(11) DEFAULT NULL,
  PRIMARY KEY (`ID`)
) ENGINE=MyISAM AUTO_INCREMENT=4 DEFAULT CHARSET=utf8 COLLATE=utf8_unicode_ci ROW_FORMAT=DYNAMIC;

/*!40000 ALTER TABLE `players` DISABLE KEYS */;
insert  into `players`(`ID`,`Name`,`Score`) values (1,'neo',10),(2,'trinity',NULL),(3,'o\\'brien',7);
/*!40000 ALTER TABLE `players` ENABLE KEYS */;

# Dump of table scores
# ------------------------------------------------------------

CREATE TABLE IF NOT EXISTS `scores` (
  `player` int(11) unsigned NOT NULL,
  `best` int(11) NOT NULL,
  PRIMARY KEY (`player`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

INSERT IGNORE INTO `scores` (`player`, `best`) VALUES (1, 10), (2, 3), (1, 99);
REPLACE INTO `scores` (`player`, `best`) VALUES (2, 5);
""".encode()


DUMPS: dict[str, tuple[Callable[[str], bytes], tuple[str, ...]]] = {
    "workbench-crlf": (workbench_crlf, ("wb",)),
    "mysqldump-databases": (mysqldump_databases, ("shop", "report")),
    "mariadb-dump": (mariadb_dump, ("app",)),
    "gui-exports": (gui_exports, ("gui",)),
}
