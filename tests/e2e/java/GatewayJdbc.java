/*
 * pgjdbc scenarios for the gateway's end-to-end tests (tests/e2e/test_gateway_jdbc.py).
 *
 *     java -cp DIR:/usr/share/java/postgresql.jar GatewayJdbc URL USER PASSWORD SCENARIO [ARGS...]
 *
 * Each scenario talks to the server at URL the way a JDBC application would and prints what it
 * saw as tab-separated lines, a tag first (e.g. "table<TAB>first<TAB>cities_raw<TAB>TABLE"), then
 * "done<TAB>SCENARIO". Checks that need Java's own values (parameters sent vs. values read back,
 * rows in order) are made here: a mismatch throws. Any failure exits with status 1 and the stack
 * trace on stderr. No build tool: javac -cp /usr/share/java/postgresql.jar GatewayJdbc.java
 */

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.StringReader;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.sql.BatchUpdateException;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.SQLWarning;
import java.sql.Statement;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import org.postgresql.PGConnection;
import org.postgresql.PGStatement;
import org.postgresql.copy.CopyManager;
import org.postgresql.util.PSQLException;
import org.postgresql.util.ServerErrorMessage;

public final class GatewayJdbc {
    private static PrintStream out;
    private static String url;
    private static String user;
    private static String password;

    public static void main(String[] args) throws Exception {
        out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        if (args.length < 4) {
            System.err.println("usage: GatewayJdbc URL USER PASSWORD SCENARIO [ARGS...]");
            System.exit(2);
        }
        url = args[0];
        user = args[1];
        password = args[2];
        String scenario = args[3];
        String[] rest = Arrays.copyOfRange(args, 4, args.length);
        try {
            switch (scenario) {
                case "connect" -> connect();
                case "metadata" -> metadata(rest);
                case "prepared" -> prepared();
                case "cursor" -> cursor();
                case "metabase" -> metabase(rest);
                case "cancel" -> cancel();
                case "errors" -> errors();
                case "copy" -> copy();
                case "batch" -> batch();
                default -> throw new IllegalArgumentException("unknown scenario " + scenario);
            }
            out.println("done\t" + scenario);
        } catch (Throwable e) {
            out.flush();
            System.err.println("scenario " + scenario + " failed:");
            e.printStackTrace();
            System.exit(1);
        }
    }

    private static Connection open() throws SQLException {
        return DriverManager.getConnection(url, user, password);
    }

    /** One tab-separated output line; nulls print as \N. */
    private static void emit(Object... fields) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < fields.length; i++) {
            if (i > 0) sb.append('\t');
            sb.append(fields[i] == null ? "\\N" : fields[i].toString());
        }
        out.println(sb);
    }

    private static void check(boolean ok, String what) {
        if (!ok) throw new AssertionError(what);
    }

    private static int scalarInt(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            check(rs.next(), "no row from " + sql);
            return rs.getInt(1);
        }
    }

    private static String scalarString(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            check(rs.next(), "no row from " + sql);
            return rs.getString(1);
        }
    }

    // -- connect: authentication -------------------------------------------------------------

    /** Connects; prints "connected USER" and the session's user, or "connect_error SQLSTATE". */
    private static void connect() throws SQLException {
        Connection c;
        try {
            c = open();
        } catch (SQLException e) {
            emit("connect_error", e.getSQLState(), e.getMessage());
            return;
        }
        try (c) {
            emit("connected", scalarString(c, "select current_user"),
                 scalarInt(c, "select 6 * 7"));
        }
    }

    // -- metadata: DatabaseMetaData ----------------------------------------------------------

    /** ARGS: SCHEMA TABLE. Prints the server version, the schema's tables and views (getTables)
     *  and TABLE's columns (getColumns) and primary key (getPrimaryKeys). */
    private static void metadata(String[] args) throws SQLException {
        String schema = args[0];
        String table = args[1];
        try (Connection c = open()) {
            DatabaseMetaData md = c.getMetaData();
            emit("product", md.getDatabaseProductName(), md.getDatabaseMajorVersion());
            try (ResultSet rs = md.getTables(null, schema, "%", new String[] {"TABLE", "VIEW"})) {
                while (rs.next()) {
                    emit("table", rs.getString("TABLE_SCHEM"), rs.getString("TABLE_NAME"),
                         rs.getString("TABLE_TYPE"), rs.getString("REMARKS"));
                }
            }
            try (ResultSet rs = md.getColumns(null, schema, table, "%")) {
                while (rs.next()) {
                    emit("column", rs.getInt("ORDINAL_POSITION"), rs.getString("COLUMN_NAME"),
                         rs.getString("TYPE_NAME"), rs.getInt("COLUMN_SIZE"),
                         rs.getInt("DECIMAL_DIGITS"), rs.getString("IS_NULLABLE"),
                         rs.getString("REMARKS"));
                }
            }
            try (ResultSet rs = md.getPrimaryKeys(null, schema, table)) {
                while (rs.next()) {
                    emit("pk", rs.getString("COLUMN_NAME"), rs.getInt("KEY_SEQ"));
                }
            }
        }
    }

    // -- prepared: server-side prepared statements, binary transfer -------------------------

    private static final String ROUNDTRIP_SQL =
        "select ?::int4 as i, ?::numeric as n, ?::timestamptz as t, ?::text as s, ?::bytea as b";
    private static final String TABLE_SQL =
        "select id, n, t, s, b from gw_values where id <= ? order by id";

    /** A canonical text form of one gw_values row, the same whatever the transfer format. */
    private static String valuesRow(ResultSet rs) throws SQLException {
        BigDecimal n = rs.getBigDecimal("n");
        OffsetDateTime t = rs.getObject("t", OffsetDateTime.class);
        byte[] b = rs.getBytes("b");
        return String.join("\t", String.valueOf(rs.getInt("id")),
                           n == null ? "\\N" : n.toPlainString(),
                           t == null ? "\\N" : t.toInstant().toString(),
                           Objects.requireNonNullElse(rs.getString("s"), "\\N"),
                           b == null ? "\\N" : HexFormat.of().formatHex(b));
    }

    /** Runs two PreparedStatements 10 times each (the URL sets prepareThreshold=3 and
     *  binaryTransfer=true, so from the third run on they are named server-side statements with
     *  binary results). ROUNDTRIP_SQL must return the parameters sent, different every run; the
     *  rows of TABLE_SQL must be the same every run (printed once as "row" lines). Then prints
     *  the connection's pg_prepared_statements ("prepared" lines). */
    private static void prepared() throws Exception {
        try (Connection c = open();
             PreparedStatement rt = c.prepareStatement(ROUNDTRIP_SQL);
             PreparedStatement tab = c.prepareStatement(TABLE_SQL)) {
            List<String> first = null;
            for (int run = 1; run <= 10; run++) {
                int i = run * 1_000_003 - 7;
                BigDecimal n = new BigDecimal("-12345678901234.5678").add(BigDecimal.valueOf(run));
                OffsetDateTime t = OffsetDateTime.of(2024, 2, 29, 23, 59, 58, 123456000,
                                                     ZoneOffset.ofHours(run - 5));
                String s = "run " + run + " h\u00e9llo \u2713 'quoted' \"double\"";
                byte[] b = {0, 1, (byte) 0xff, (byte) run, '\\', 0};
                rt.setInt(1, i);
                rt.setBigDecimal(2, n);
                rt.setObject(3, t);
                rt.setString(4, s);
                rt.setBytes(5, b);
                try (ResultSet rs = rt.executeQuery()) {
                    check(rs.next(), "roundtrip: no row in run " + run);
                    check(rs.getInt("i") == i, "roundtrip int in run " + run);
                    check(rs.getBigDecimal("n").compareTo(n) == 0,
                          "roundtrip numeric in run " + run + ": " + rs.getBigDecimal("n"));
                    Instant got = rs.getObject("t", OffsetDateTime.class).toInstant();
                    check(got.equals(t.toInstant()),
                          "roundtrip timestamptz in run " + run + ": " + got);
                    check(rs.getString("s").equals(s), "roundtrip text in run " + run);
                    check(Arrays.equals(rs.getBytes("b"), b), "roundtrip bytea in run " + run);
                    check(!rs.next(), "roundtrip: a second row in run " + run);
                }

                tab.setInt(1, 3);
                List<String> rows = new ArrayList<>();
                try (ResultSet rs = tab.executeQuery()) {
                    while (rs.next()) rows.add(valuesRow(rs));
                }
                if (first == null) {
                    first = rows;
                    for (String r : rows) out.println("row\t" + r);
                } else {
                    check(rows.equals(first), "gw_values rows differ in run " + run + ": " + rows);
                }
                emit("run", run, ((PGStatement) rt).isUseServerPrepare(),
                     ((PGStatement) tab).isUseServerPrepare());
            }
            try (Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery(
                     "select name, statement from pg_prepared_statements order by statement")) {
                while (rs.next()) emit("prepared", rs.getString(1), rs.getString(2));
            }
        }
    }

    // -- cursor: fetch size, portals suspended and resumed ----------------------------------

    private static String md5(String s) throws Exception {
        return HexFormat.of().formatHex(
            MessageDigest.getInstance("MD5").digest(s.getBytes(StandardCharsets.UTF_8)));
    }

    /** Autocommit off, fetch size 50: two queries of 1000 rows read alternately (two portals
     *  suspended at once), with a third query run in the middle; every row must arrive in order
     *  and intact. Prints the named portals open half way ("cursor" lines, from pg_cursors) and
     *  per query the rows read ("rows" lines). */
    private static void cursor() throws Exception {
        try (Connection c = open()) {
            c.setAutoCommit(false);
            try (PreparedStatement up = c.prepareStatement(
                     "select g, md5(g::text) as h from generate_series(1, ?) g order by g");
                 Statement down = c.createStatement()) {
                up.setFetchSize(50);
                down.setFetchSize(50);
                up.setInt(1, 1000);
                int nUp = 0;
                int nDown = 0;
                try (ResultSet a = up.executeQuery();
                     ResultSet b = down.executeQuery(
                         "select g, repeat('x', g % 7) as pad from generate_series(1, 1000) g "
                         + "order by g desc")) {
                    while (true) {
                        boolean moreA = a.next();
                        boolean moreB = b.next();
                        if (!moreA && !moreB) break;
                        if (moreA) {
                            nUp++;
                            check(a.getInt(1) == nUp,
                                  "ascending: row " + nUp + " is " + a.getInt(1));
                            check(a.getString(2).equals(md5(String.valueOf(nUp))),
                                  "ascending: md5 of row " + nUp);
                        }
                        if (moreB) {
                            int want = 1000 - nDown;
                            nDown++;
                            check(b.getInt(1) == want,
                                  "descending: row " + nDown + " is " + b.getInt(1));
                            check(b.getString(2).equals("x".repeat(want % 7)),
                                  "descending: pad of row " + nDown);
                        }
                        if (nUp == 500) {
                            try (Statement mid = c.createStatement();
                                 ResultSet rs = mid.executeQuery(
                                     "select name, statement, is_binary from pg_cursors "
                                     + "where name <> '' order by statement")) {
                                while (rs.next()) {
                                    emit("cursor", rs.getString(1), rs.getString(2),
                                         rs.getBoolean(3));
                                }
                            }
                        }
                    }
                }
                emit("rows", "ascending", nUp);
                emit("rows", "descending", nDown);
            }
            c.commit();
            emit("after", scalarInt(c, "select count(*) from generate_series(1, 1000)"));
        }
    }

    // -- metabase: the queries Metabase runs when it syncs a PostgreSQL database --------------

    private static final String MB_TABLES_SQL =
        "SELECT n.nspname AS \"schema\", c.relname AS \"name\", "
        + "CASE c.relkind WHEN 'r' THEN 'TABLE' WHEN 'p' THEN 'PARTITIONED TABLE' "
        + "WHEN 'v' THEN 'VIEW' WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'm' THEN 'MATERIALIZED VIEW' "
        + "ELSE NULL END AS \"type\", "
        + "obj_description(c.oid, 'pg_class') AS \"description\", "
        + "stat.n_live_tup AS \"estimated_row_count\" "
        + "FROM pg_catalog.pg_class c "
        + "INNER JOIN pg_catalog.pg_namespace n ON c.relnamespace = n.oid "
        + "LEFT JOIN pg_catalog.pg_stat_user_tables stat "
        + "ON n.nspname = stat.schemaname AND c.relname = stat.relname "
        + "WHERE c.relnamespace = n.oid "
        + "AND n.nspname !~ '^information_schema|catalog_history|pg_' "
        + "AND c.relkind IN ('r', 'p', 'v', 'f', 'm') "
        + "AND n.nspname <> ? "
        + "AND has_schema_privilege(n.nspname, 'USAGE') "
        + "AND (has_table_privilege(c.oid, 'SELECT') OR has_any_column_privilege(c.oid, 'SELECT')) "
        + "ORDER BY \"schema\", \"name\"";

    private static final String MB_FIELDS_SQL =
        "SELECT c.column_name AS \"name\", "
        + "CASE WHEN c.udt_schema IN ('public', 'pg_catalog') THEN format('%I', c.udt_name) "
        + "ELSE format('%I.%I', c.udt_schema, c.udt_name) END AS \"database-type\", "
        + "c.ordinal_position - 1 AS \"database-position\", "
        + "c.table_schema AS \"table-schema\", c.table_name AS \"table-name\", "
        + "pk.column_name IS NOT NULL AS \"pk?\", "
        + "col_description(format('%I.%I', c.table_schema, c.table_name)::regclass::oid, "
        + "c.ordinal_position) AS \"field-comment\", "
        + "((c.column_default IS NULL OR lower(c.column_default) = 'null') "
        + "AND c.is_nullable = 'NO' AND NOT (c.column_default IS NOT NULL "
        + "AND c.column_default LIKE '%nextval(%') AND c.is_identity = 'NO') "
        + "AS \"database-required\" "
        + "FROM information_schema.columns c "
        + "LEFT JOIN (SELECT tc.table_schema, tc.table_name, kc.column_name "
        + "FROM information_schema.table_constraints tc "
        + "INNER JOIN information_schema.key_column_usage kc "
        + "ON tc.constraint_name = kc.constraint_name AND tc.table_schema = kc.table_schema "
        + "AND tc.table_name = kc.table_name "
        + "WHERE tc.constraint_type = 'PRIMARY KEY') pk "
        + "ON c.table_schema = pk.table_schema AND c.table_name = pk.table_name "
        + "AND c.column_name = pk.column_name "
        + "WHERE c.table_schema !~ '^information_schema|catalog_history|pg_' "
        + "AND c.table_schema = ? AND c.table_name = ? "
        + "ORDER BY \"table-schema\", \"table-name\", \"database-position\"";

    /** ARGS: SCHEMA TABLE. The settings Metabase makes on a new connection, then its table list
     *  ("table" lines, every schema but public) and TABLE's fields ("field" lines). */
    private static void metabase(String[] args) throws SQLException {
        try (Connection c = open(); Statement st = c.createStatement()) {
            st.execute("SET extra_float_digits = 3");
            st.execute("SET application_name = 'Metabase v0.50.0 [5e1a-duro-e2e]'");
            emit("isolation", scalarString(c, "SHOW TRANSACTION ISOLATION LEVEL"));
            emit("setting", "application_name", scalarString(c, "SHOW application_name"));
            emit("setting", "extra_float_digits", scalarString(c, "SHOW extra_float_digits"));
            c.setReadOnly(true);
            try (PreparedStatement ps = c.prepareStatement(MB_TABLES_SQL)) {
                ps.setString(1, "public");
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        emit("table", rs.getString("schema"), rs.getString("name"),
                             rs.getString("type"), rs.getString("description"));
                    }
                }
            }
            try (PreparedStatement ps = c.prepareStatement(MB_FIELDS_SQL)) {
                ps.setString(1, args[0]);
                ps.setString(2, args[1]);
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        emit("field", rs.getString("table-schema"), rs.getString("table-name"),
                             rs.getInt("database-position"), rs.getString("name"),
                             rs.getString("database-type"), rs.getBoolean("pk?"),
                             rs.getBoolean("database-required"), rs.getString("field-comment"));
                    }
                }
            }
        }
    }

    // -- cancel: Statement.cancel() from another thread -------------------------------------

    /** Waits until the backend pid runs pg_sleep, watching pg_stat_activity from monitor. */
    private static void awaitSleeping(Connection monitor, int pid) throws Exception {
        try (PreparedStatement ps = monitor.prepareStatement(
                 "select count(*) from pg_stat_activity where pid = ? and state = 'active' "
                 + "and query like 'select pg_sleep%'")) {
            ps.setInt(1, pid);
            for (int i = 0; i < 6000; i++) {
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    if (rs.getInt(1) == 1) return;
                }
                Thread.sleep(10);
            }
        }
        throw new AssertionError("backend " + pid + " never started sleeping");
    }

    /** Runs "select pg_sleep(30)" on its statement and returns the SQLSTATE it fails with
     *  ("none" when it completes). */
    private static String sleep(Statement st) {
        try {
            st.executeQuery("select pg_sleep(30)").close();
            return "none";
        } catch (SQLException e) {
            return e.getSQLState();
        }
    }

    /** Two sessions each run pg_sleep(30). Cancelling the first must end only that one (57014);
     *  the second is still running; then it is cancelled too. Both connections keep their
     *  backend and run more queries afterwards. Prints "cancelled" and "after" lines. */
    private static void cancel() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try (Connection a = open(); Connection b = open(); Connection monitor = open();
             Statement sa = a.createStatement(); Statement sb = b.createStatement()) {
            int pidA = scalarInt(a, "select pg_backend_pid()");
            int pidB = scalarInt(b, "select pg_backend_pid()");
            check(pidA != pidB, "two gateway sessions share backend " + pidA);
            Future<String> fa = pool.submit(() -> sleep(sa));
            Future<String> fb = pool.submit(() -> sleep(sb));
            awaitSleeping(monitor, pidA);
            awaitSleeping(monitor, pidB);

            sa.cancel();
            emit("cancelled", "first", fa.get());
            check(!fb.isDone(), "cancelling the first session ended the second one too");
            try (PreparedStatement ps = monitor.prepareStatement(
                     "select state from pg_stat_activity where pid = ?")) {
                ps.setInt(1, pidB);
                try (ResultSet rs = ps.executeQuery()) {
                    check(rs.next(), "the second backend is gone");
                    emit("second_state", rs.getString(1));
                }
            }
            sb.cancel();
            emit("cancelled", "second", fb.get());

            emit("after", "first", scalarInt(a, "select pg_backend_pid()") == pidA,
                 scalarInt(a, "select 1 + 1"));
            emit("after", "second", scalarInt(b, "select pg_backend_pid()") == pidB,
                 scalarInt(b, "select 2 + 2"));
        } finally {
            pool.shutdownNow();
        }
    }

    // -- errors: SQLSTATEs, error fields and notices ----------------------------------------

    private static void emitError(String where, SQLException e) {
        ServerErrorMessage m = e instanceof PSQLException p ? p.getServerErrorMessage() : null;
        emit("error", where, e.getSQLState(), m == null ? null : m.getMessage(),
             m == null ? null : m.getDetail(), m == null ? null : m.getHint(),
             m == null ? null : m.getPosition());
    }

    /** Errors in the simple and the extended protocol, at parse and at execution time, with the
     *  server's fields; an aborted transaction (25P02) and its rollback; a NOTICE as a warning.
     *  The connection keeps its backend throughout ("alive" lines). */
    private static void errors() throws SQLException {
        try (Connection c = open(); Statement st = c.createStatement()) {
            int pid = scalarInt(c, "select pg_backend_pid()");
            try {
                st.executeQuery("select * from gw_no_such_table");
                throw new AssertionError("simple: no error");
            } catch (PSQLException e) {
                emitError("simple", e);
            }
            emit("alive", "simple", scalarInt(c, "select pg_backend_pid()") == pid,
                 scalarInt(c, "select 1"));

            try (PreparedStatement ps = c.prepareStatement(
                     "select * from gw_no_such_table where id = ?")) {
                ps.setInt(1, 1);
                ps.executeQuery();
                throw new AssertionError("extended: no error");
            } catch (PSQLException e) {
                emitError("extended", e);
            }
            try (PreparedStatement ps = c.prepareStatement("select 100 / ?")) {
                ps.setInt(1, 0);
                ps.executeQuery();
                throw new AssertionError("division: no error");
            } catch (PSQLException e) {
                emitError("division", e);
            }
            try {
                st.execute("do $$ begin raise exception 'custom failure' using errcode = 'P0001', "
                           + "detail = 'some detail', hint = 'some hint'; end $$");
                throw new AssertionError("raise: no error");
            } catch (PSQLException e) {
                emitError("raise", e);
            }
            emit("alive", "extended", scalarInt(c, "select pg_backend_pid()") == pid,
                 scalarInt(c, "select 2"));

            c.setAutoCommit(false);
            try {
                st.executeQuery("select * from gw_no_such_table");
                throw new AssertionError("in transaction: no error");
            } catch (PSQLException e) {
                emitError("in_transaction", e);
            }
            try {
                st.executeQuery("select 1");
                throw new AssertionError("aborted transaction: no error");
            } catch (PSQLException e) {
                emitError("aborted", e);
            }
            c.rollback();
            c.setAutoCommit(true);
            emit("alive", "rollback", scalarInt(c, "select pg_backend_pid()") == pid,
                 scalarInt(c, "select 3"));

            st.execute("do $$ begin raise notice 'gateway says %', 42; end $$");
            for (SQLWarning w = st.getWarnings(); w != null; w = w.getNextWarning()) {
                emit("warning", w.getSQLState(), w.getMessage());
            }
        }
    }

    // -- copy: CopyManager in and out, and a large value ------------------------------------

    /** COPY FROM STDIN of 20000 CSV rows into gw_copy (created here), COPY TO STDOUT of them
     *  back (must be the same text), a COPY with a bad row (22P02, nothing loaded), and an 8 MB
     *  bytea parameter read back intact. Prints "copied", "copy_error", "large" and "alive". */
    private static void copy() throws Exception {
        try (Connection c = open(); Statement st = c.createStatement()) {
            int pid = scalarInt(c, "select pg_backend_pid()");
            st.execute("create table gw_copy (id int primary key, label text, amount numeric)");
            CopyManager copy = c.unwrap(PGConnection.class).getCopyAPI();
            StringBuilder csv = new StringBuilder();
            for (int i = 1; i <= 20000; i++) {
                csv.append(i).append(",\"label ").append(i).append(", with comma\",")
                   .append(i).append(".25\n");
            }
            long in = copy.copyIn("COPY gw_copy FROM STDIN (FORMAT csv)",
                                  new StringReader(csv.toString()));
            ByteArrayOutputStream back = new ByteArrayOutputStream();
            long outRows = copy.copyOut("COPY (SELECT * FROM gw_copy ORDER BY id) TO STDOUT "
                                        + "(FORMAT csv)", back);
            check(back.toString(StandardCharsets.UTF_8).equals(csv.toString()),
                  "COPY TO STDOUT returned other text than was copied in");
            emit("copied", in, outRows, scalarInt(c, "select count(*) from gw_copy"));

            try {
                copy.copyIn("COPY gw_copy FROM STDIN (FORMAT csv)",
                            new StringReader("30001,ok,1\n30002,bad,not-a-number\n"));
                throw new AssertionError("bad COPY: no error");
            } catch (PSQLException e) {
                emit("copy_error", e.getSQLState(), scalarInt(c, "select count(*) from gw_copy"));
            }

            byte[] big = new byte[8 << 20];
            for (int i = 0; i < big.length; i++) big[i] = (byte) (i * 31 + (i >> 13));
            try (PreparedStatement ps = c.prepareStatement("select ?::bytea, length(?::bytea)")) {
                ps.setBytes(1, big);
                ps.setBytes(2, big);
                try (ResultSet rs = ps.executeQuery()) {
                    check(rs.next(), "large: no row");
                    check(Arrays.equals(rs.getBytes(1), big), "large: bytea differs");
                    emit("large", rs.getInt(2));
                }
            }
            emit("alive", scalarInt(c, "select pg_backend_pid()") == pid);
        }
    }

    // -- batch: executeBatch, many Bind/Execute messages behind one Sync --------------------

    /** Inserts 5000 rows into gw_batch (created here) with one executeBatch (pgjdbc pipelines
     *  the whole batch), then in a transaction a batch whose 3rd row repeats a key: a
     *  BatchUpdateException with 23505, rolled back. Prints "batch", "batch_error", "count". */
    private static void batch() throws Exception {
        try (Connection c = open(); Statement st = c.createStatement()) {
            st.execute("create table gw_batch (id int primary key, label text)");
            try (PreparedStatement ps = c.prepareStatement(
                     "insert into gw_batch (id, label) values (?, ?)")) {
                for (int i = 1; i <= 5000; i++) {
                    ps.setInt(1, i);
                    ps.setString(2, "row " + i);
                    ps.addBatch();
                }
                int[] counts = ps.executeBatch();
                check(Arrays.stream(counts).allMatch(n -> n == 1),
                      "batch update counts " + Arrays.toString(counts));
                emit("batch", counts.length);

                c.setAutoCommit(false);
                for (int id : new int[] {6001, 6002, 1, 6003}) {
                    ps.setInt(1, id);
                    ps.setString(2, "again " + id);
                    ps.addBatch();
                }
                try {
                    ps.executeBatch();
                    throw new AssertionError("duplicate key batch: no error");
                } catch (BatchUpdateException e) {
                    SQLException cause = e.getNextException();
                    emit("batch_error", cause == null ? e.getSQLState() : cause.getSQLState());
                }
                c.rollback();
                c.setAutoCommit(true);
            }
            emit("count", scalarInt(c, "select count(*) from gw_batch"),
                 scalarInt(c, "select max(id) from gw_batch"));
        }
    }
}
