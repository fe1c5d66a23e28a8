/*
 * pgjdbc scenarios for Duro's own SQL through the gateway (tests/e2e/test_duro_sql.py): the
 * virtual table duro.status read with a server-side PreparedStatement (binary transfer), and
 * duro_refresh called through a CallableStatement.
 *
 *     java -cp DIR:/usr/share/java/postgresql.jar DuroSqlJdbc URL USER PASSWORD SCENARIO [ARGS...]
 *
 * Each scenario prints what it saw as tab-separated lines, a tag first, then "done<TAB>SCENARIO".
 * Checks that need Java's own values are made here: a mismatch throws. Any failure exits with
 * status 1 and the stack trace on stderr. No build tool:
 * javac -cp /usr/share/java/postgresql.jar DuroSqlJdbc.java
 */

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.sql.CallableStatement;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.Arrays;

import org.postgresql.PGStatement;

public final class DuroSqlJdbc {
    private static PrintStream out;
    private static String url;
    private static String user;
    private static String password;

    public static void main(String[] args) throws Exception {
        out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        if (args.length < 4) {
            System.err.println("usage: DuroSqlJdbc URL USER PASSWORD SCENARIO [ARGS...]");
            System.exit(2);
        }
        url = args[0];
        user = args[1];
        password = args[2];
        String scenario = args[3];
        String[] rest = Arrays.copyOfRange(args, 4, args.length);
        try {
            switch (scenario) {
                case "status" -> status(rest);
                case "call" -> call(rest);
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

    // -- status: duro.status through a server-side prepared statement ------------------------

    private static final String STATUS_SQL =
        "select view, state, last_refresh from duro.status where view = ?";
    private static final String WAREHOUSE_SQL =
        "select count(*) from first.cities_raw where country = ?";

    /** ARGS: RUNS VIEW... Runs STATUS_SQL RUNS times, cycling through the VIEWs (the URL sets
     *  prepareThreshold and binaryTransfer, so later runs are named server-side statements with
     *  binary results). Each run must return exactly one row, for the view asked; last_refresh
     *  is read as a Timestamp and as an OffsetDateTime, which must agree. Prints per run
     *  "run N VIEW STATE LAST_REFRESH(ISO instant) SERVER_PREPARED". Between runs, a warehouse
     *  PreparedStatement runs too; its count must be the same every time ("cities" once). */
    private static void status(String[] args) throws SQLException {
        int runs = Integer.parseInt(args[0]);
        String[] views = Arrays.copyOfRange(args, 1, args.length);
        try (Connection c = open();
             PreparedStatement st = c.prepareStatement(STATUS_SQL);
             PreparedStatement wh = c.prepareStatement(WAREHOUSE_SQL)) {
            // Described before the first execution (Parse, Describe, Sync).
            ResultSetMetaData md = st.getMetaData();
            check(md != null, "no result description for " + STATUS_SQL);
            emit("columns", md.getColumnCount(), md.getColumnName(1), md.getColumnName(2),
                 md.getColumnName(3));
            Long cities = null;
            for (int run = 1; run <= runs; run++) {
                String view = views[(run - 1) % views.length];
                st.setString(1, view);
                try (ResultSet rs = st.executeQuery()) {
                    check(rs.next(), "status: no row for " + view + " in run " + run);
                    String gotView = rs.getString("view");
                    String state = rs.getString("state");
                    Timestamp ts = rs.getTimestamp("last_refresh");
                    OffsetDateTime odt = rs.getObject("last_refresh", OffsetDateTime.class);
                    check(ts != null && odt != null, "status: last_refresh is null in run " + run);
                    Instant a = ts.toInstant();
                    Instant b = odt.toInstant();
                    check(a.equals(b), "status: Timestamp " + a + " != OffsetDateTime " + b
                          + " in run " + run);
                    check(!rs.next(), "status: a second row for " + view + " in run " + run);
                    emit("run", run, gotView, state, b, ((PGStatement) st).isUseServerPrepare());
                }

                wh.setString(1, "Germany");
                try (ResultSet rs = wh.executeQuery()) {
                    check(rs.next(), "warehouse: no row in run " + run);
                    long n = rs.getLong(1);
                    if (cities == null) {
                        cities = n;
                        emit("cities", n);
                    } else {
                        check(cities == n, "warehouse count differs in run " + run + ": " + n);
                    }
                }
            }
        }
    }

    // -- call: {call duro_refresh(?)} through a CallableStatement ----------------------------

    /** ARGS: VIEW [TIMES]. Calls duro_refresh(VIEW) TIMES times (default 1) through one
     *  CallableStatement; prints "call VIEW REFRESHED DURATION_NONNEGATIVE" per call, and the
     *  result's column names once ("columns"). */
    private static void call(String[] args) throws SQLException {
        String view = args[0];
        int times = args.length > 1 ? Integer.parseInt(args[1]) : 1;
        try (Connection c = open();
             CallableStatement cs = c.prepareCall("{call duro_refresh(?)}")) {
            for (int i = 1; i <= times; i++) {
                cs.setString(1, view);
                boolean hasResult = cs.execute();
                check(hasResult, "duro_refresh returned no result set in call " + i);
                try (ResultSet rs = cs.getResultSet()) {
                    if (i == 1) {
                        ResultSetMetaData md = rs.getMetaData();
                        StringBuilder cols = new StringBuilder();
                        for (int k = 1; k <= md.getColumnCount(); k++) {
                            if (k > 1) cols.append(',');
                            cols.append(md.getColumnName(k));
                        }
                        emit("columns", cols);
                    }
                    check(rs.next(), "duro_refresh returned no row in call " + i);
                    double duration = rs.getDouble("duration_s");
                    emit("call", rs.getString("view"), rs.getString("refreshed"),
                         duration >= 0 && !rs.wasNull());
                    check(!rs.next(), "duro_refresh returned a second row in call " + i);
                }
            }
            try (PreparedStatement ps = c.prepareStatement("select ?::int * 2")) {
                ps.setInt(1, 21);
                try (ResultSet rs = ps.executeQuery()) {
                    check(rs.next(), "no row after duro_refresh");
                    emit("after", rs.getInt(1));
                }
            }
        }
    }
}
