#include "storedatabase.h"

#include "storecodec.h"

#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QHash>
#include <QSqlError>
#include <QSqlQuery>
#include <QStringList>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <limits>
#include <unordered_map>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

// SQLite's primary result codes that mean "this file is damaged or not a database".
constexpr int SqliteCorrupt = 11;
constexpr int SqliteNotADatabase = 26;

const QString ConnectionPrefix = QStringLiteral("taskdeck-store-");

const char *const TaskColumns =
    "id, spec_id, priority, sequence, state, attempt, max_attempts, submitted_at, "
    "started_at, finished_at, progress, status, result, error, stack, log_tail";

const char *const Schema[] = {
    "CREATE TABLE specs ("
    " id INTEGER PRIMARY KEY,"
    " file TEXT,"
    " kind TEXT NOT NULL,"
    " command TEXT,"
    " name TEXT,"
    " group_name TEXT,"
    " priority INTEGER NOT NULL,"
    " timeout_ms INTEGER NOT NULL,"
    " retries INTEGER NOT NULL,"
    " retry_delay_ms INTEGER NOT NULL,"
    " memory_bytes INTEGER NOT NULL,"
    " args TEXT,"
    " source BLOB)",
    "CREATE TABLE tasks ("
    " id INTEGER PRIMARY KEY,"
    " spec_id INTEGER NOT NULL REFERENCES specs(id),"
    " priority INTEGER NOT NULL,"
    " sequence INTEGER,"
    " state TEXT NOT NULL,"
    " attempt INTEGER NOT NULL,"
    " max_attempts INTEGER NOT NULL,"
    " submitted_at INTEGER,"
    " started_at INTEGER,"
    " finished_at INTEGER,"
    " progress REAL,"
    " status TEXT,"
    " result TEXT,"
    " error TEXT,"
    " stack TEXT,"
    " log_tail TEXT,"
    " transitions TEXT NOT NULL DEFAULT '')",
    // forget() asks whether a spec is still used.
    "CREATE INDEX tasks_by_spec ON tasks(spec_id)",
    // recover() reads these states; the finished rest only through tasks_by_finish.
    ("CREATE INDEX tasks_to_recover ON tasks(state)"
     " WHERE state = 'pending' OR state = 'running' OR state = 'interrupted'"),
    "CREATE INDEX tasks_by_finish ON tasks(finished_at) WHERE finished_at IS NOT NULL",
    // forgotten_max_id: the highest id forget() deleted, so that ids are never reused.
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
};

// Added by version 2: runs of submitted tasks (see StoreDatabase::SubmittedRun).
const char *const SchemaVersion2[] = {
    "CREATE TABLE submissions (id INTEGER PRIMARY KEY, tasks TEXT NOT NULL)",
};

// The runs of the submissions rows, each with whether it can be read: a row that is not
// a JSON array, or a run without its integers, a count from 1 to 10,000,000 or an
// existing spec row, is damaged and skipped (never a crash, a task row of NULL id or an
// endless count).
const char *const SubmittedRuns =
    "WITH RECURSIVE readable(tasks) AS MATERIALIZED"
    " (SELECT tasks FROM submissions WHERE json_valid(tasks)),"
    " entry(v, ok) AS MATERIALIZED (SELECT g.value, CASE WHEN g.type = 'array' THEN coalesce("
    " json_type(g.value, '$[0]') = 'integer'"
    " AND json_extract(g.value, '$[0]') > 0 AND json_type(g.value, '$[1]') = 'integer'"
    " AND json_extract(g.value, '$[1]') BETWEEN 1 AND 10000000"
    " AND json_extract(g.value, '$[2]') IN (SELECT id FROM specs)"
    " AND json_type(g.value, '$[3]') = 'integer' AND json_type(g.value, '$[4]') = 'integer'"
    " AND json_type(g.value, '$[5]') = 'integer' AND json_type(g.value, '$[6]') = 'integer', 0)"
    " ELSE 0 END FROM readable, json_each(readable.tasks) AS g WHERE json_type(readable.tasks) = "
    "'array')";

int sqliteCode(const QSqlError &error)
{
    return error.nativeErrorCode().toInt() & 0xff;
}

bool isCorruption(const QSqlError &error)
{
    const int code = sqliteCode(error);
    return code == SqliteCorrupt || code == SqliteNotADatabase;
}

QString describe(const QSqlError &error)
{
    return error.databaseText().isEmpty() ? error.text() : error.databaseText();
}

QVariant textValue(const QString &text)
{
    return text.isEmpty() ? QVariant() : QVariant(text);
}

qint64 timeFrom(const QVariant &value)
{
    return value.isNull() ? -1 : value.toLongLong();
}

// The store file `path` readable by its owner only (0600), created so when missing (an
// empty file is a new SQLite database), and so are its -wal and -shm files when present:
// SQLite creates those with the database file's mode. Tightens a store made before.
void makePrivate(const QString &path)
{
    const QByteArray name = QFile::encodeName(path);
    const int fd = ::open(name.constData(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0)
        ::close(fd);
    for (const char *suffix : {"", "-wal", "-shm", "-journal"}) {
        const QByteArray file = name + suffix;
        struct stat st;
        if (::lstat(file.constData(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077) != 0)
            ::chmod(file.constData(), st.st_mode & 0700);
    }
}

// Why `dir` cannot hold the store file `file`, or empty when it can. Creates `dir`
// when missing, and nothing else.
QString locationProblem(const QString &dir, const QString &file)
{
    if (!StoreFiles::makeDataDir(dir)) {
        // The nearest existing ancestor tells why.
        QFileInfo existing(dir);
        while (!existing.exists() && existing.absolutePath() != existing.absoluteFilePath())
            existing = QFileInfo(existing.absolutePath());
        if (existing.exists() && !existing.isDir())
            return QStringLiteral("%1 is a file, not a directory").arg(existing.absoluteFilePath());
        if (existing.exists() && !existing.isWritable())
            return QStringLiteral("cannot create the directory %1 (%2 is not writable)")
                .arg(dir, existing.absoluteFilePath());
        return QStringLiteral("cannot create the directory %1").arg(dir);
    }
    const QFileInfo dirInfo(dir);
    if (!dirInfo.isDir())
        return QStringLiteral("%1 is not a directory").arg(dir);
    if (!dirInfo.isWritable())
        return QStringLiteral("the directory %1 is not writable").arg(dir);
    for (const QString &path :
         {file, file + QStringLiteral("-wal"), file + QStringLiteral("-shm")}) {
        const QFileInfo info(path);
        if (!info.exists())
            continue;
        if (info.isDir())
            return QStringLiteral("%1 is a directory").arg(path);
        if (!info.isReadable() || !info.isWritable())
            return QStringLiteral("%1 is not readable and writable").arg(path);
    }
    return {};
}

// ---- task rows as JSON text (see StoreDatabase::TaskRows) ----
//
// The statement of a shape unpacks its one bound value, an array of rows that are arrays
// of values: json_each() walks the rows (materialized, so that each row's text is made
// once), json_extract() takes the values. Integers, reals and strings come back as the
// same SQLite values that binding them gives.

enum class RowKind : quint32 { Insert, Update, Live };

// The columns a row may leave NULL (or, for an update's stack and log tail, untouched),
// in the order of their values in a row.
enum Optional {
    Sequence,
    SubmittedAt,
    StartedAt,
    FinishedAt,
    Progress,
    Status,
    Result,
    Error,
    Transitions, // appended to the column by updates; '' when NULL in an insert
    Stack,
    LogTail,
    OptionalCount
};
constexpr const char *OptionalColumns[OptionalCount] = {
    "sequence", "submitted_at", "started_at",  "finished_at", "progress", "status",
    "result",   "error",        "transitions", "stack",       "log_tail",
};

// A shape: the kind of row (bits 0-1), the state it writes (2-4), a bit per optional
// column that has a value in the row (the others are NULL), and whether an update sets
// the stack and the log tail at all. A row's values: the task id; spec_id and
// max_attempts (inserts); priority and attempt (all but live updates); then its optional
// values, in Optional order.
constexpr quint32 KindMask = 0x3;
constexpr int StateShift = 2;
constexpr quint32 StateMask = 0x7 << StateShift;
constexpr quint32 hasValue(int column)
{
    return 1u << (5 + column);
}
constexpr quint32 StackWritten = 1u << (5 + OptionalCount);
constexpr quint32 LogTailWritten = StackWritten << 1;
static_assert(quint32(TaskState::Interrupted) <= StateMask >> StateShift);
static_assert(5 + OptionalCount + 2 <= 32);

// The SQL of the rows of `shape`, its one placeholder the JSON array of the rows.
QString rowsStatement(quint32 shape)
{
    int next = 0;
    auto value = [&next] { return QStringLiteral("json_extract(j.v, '$[%1]')").arg(next++); };
    const QString rows =
        QStringLiteral("WITH j(v) AS MATERIALIZED (SELECT value FROM json_each(CAST(? AS TEXT))) ");
    const auto kind = RowKind(shape & KindMask);
    const QString id = value();
    QStringList set; // what an update sets
    if (kind == RowKind::Live) {
        for (int column : {Stack, LogTail}) {
            if (shape & (column == Stack ? StackWritten : LogTailWritten))
                set.append(QLatin1String(OptionalColumns[column]) + QStringLiteral(" = ") +
                           (shape & hasValue(column) ? value() : QStringLiteral("NULL")));
        }
        return rows + QStringLiteral("UPDATE tasks SET %1 FROM j WHERE tasks.id = %2")
                          .arg(set.join(QStringLiteral(", ")), id);
    }
    QStringList columns{QStringLiteral("id"), QStringLiteral("spec_id"),
                        QStringLiteral("max_attempts")};
    QStringList values{id};
    if (kind == RowKind::Insert) {
        values.append(value());
        values.append(value());
    } else {
        values.append({QStringLiteral("-1"), QStringLiteral("0")}); // never kept: writeTasks()
    }
    const QString state = taskStateName(TaskState((shape & StateMask) >> StateShift));
    columns.append(
        {QStringLiteral("priority"), QStringLiteral("attempt"), QStringLiteral("state")});
    values.append({value(), value(), u'\'' + state + u'\''});
    for (const char *column : {"priority", "attempt", "state"})
        set.append(QStringLiteral("%1 = excluded.%1").arg(QLatin1String(column)));
    for (int column = 0; column < OptionalCount; ++column) {
        const QString name = QLatin1String(OptionalColumns[column]);
        const bool present = shape & hasValue(column);
        if (kind == RowKind::Update) {
            if ((column == Stack && !(shape & StackWritten)) ||
                (column == LogTail && !(shape & LogTailWritten)) ||
                (column == Transitions && !present))
                continue;
            set.append(column == Transitions
                           ? QStringLiteral("transitions = ltrim(transitions || ' ' ||"
                                            " excluded.transitions)")
                           : QStringLiteral("%1 = excluded.%1").arg(name));
        }
        columns.append(name);
        if (present)
            values.append(value());
        else
            values.append(column == Transitions ? QStringLiteral("''") : QStringLiteral("NULL"));
    }
    const QString into =
        QStringLiteral("INTO tasks (%1) SELECT %2 FROM j")
            .arg(columns.join(QStringLiteral(", ")), values.join(QStringLiteral(", ")));
    // A task id is reused only when the store holds older tasks than the engine was given
    // back (Engine::restore continues after the highest id it got).
    if (kind == RowKind::Insert)
        return rows + QStringLiteral("INSERT OR REPLACE ") + into;
    // An upsert rather than UPDATE ... FROM, which first copies the rows it joins.
    return rows + QStringLiteral("INSERT ") + into +
           QStringLiteral(" WHERE true ON CONFLICT(id) DO UPDATE SET ") +
           set.join(QStringLiteral(", "));
}

void appendDigits(std::string &out, qint64 value)
{
    char text[24];
    const char *end = std::to_chars(text, text + sizeof text, value).ptr;
    out.append(text, size_t(end - text));
}

// Values are appended each with a leading ',' (see TaskRows::add).
void appendInteger(std::string &out, qint64 value)
{
    out += ',';
    appendDigits(out, value);
}

// Seventeen significant digits: SQLite reads back the same double (its own conversion
// is not always correctly rounded, so the shortest form would not do).
void appendReal(std::string &out, double value)
{
    if (std::isnan(value)) {
        out += ",null"; // what binding a NaN stores
        return;
    }
    if (std::isinf(value)) {
        out += value > 0 ? ",9e999" : ",-9e999"; // read back as infinity
        return;
    }
    char text[40];
    text[0] = ',';
    const char *end =
        std::to_chars(text + 1, text + sizeof text, value, std::chars_format::general, 17).ptr;
    out.append(text, size_t(end - text));
}

// Appends `text` as a JSON string, in UTF-8. Valid UTF-16 comes back exactly (a lone
// surrogate, which UTF-8 cannot hold, becomes U+FFFD). Returns false when `text` holds
// a NUL: SQLite's JSON functions end a string at "\u0000".
bool appendString(std::string &out, QStringView text)
{
    static constexpr char hex[] = "0123456789abcdef";
    char buffer[256];
    char *o = buffer;
    *o++ = ',';
    *o++ = '"';
    bool nul = false;
    const char16_t *p = text.utf16();
    const char16_t *const end = p + text.size();
    while (p < end) {
        if (o > buffer + sizeof buffer - 8) { // room for one more unit and the quote
            out.append(buffer, size_t(o - buffer));
            o = buffer;
        }
        const char16_t c = *p++;
        if (c < 0x80) {
            if (c >= 0x20 && c != u'"' && c != u'\\') {
                *o++ = char(c);
                continue;
            }
            *o++ = '\\';
            switch (c) {
            case u'"':
                *o++ = '"';
                break;
            case u'\\':
                *o++ = '\\';
                break;
            case u'\n':
                *o++ = 'n';
                break;
            case u'\t':
                *o++ = 't';
                break;
            case u'\r':
                *o++ = 'r';
                break;
            default: // the other control characters
                nul = nul || c == 0;
                *o++ = 'u';
                *o++ = '0';
                *o++ = '0';
                *o++ = hex[c >> 4];
                *o++ = hex[c & 0xf];
            }
        } else if (c < 0x800) {
            *o++ = char(0xc0 | (c >> 6));
            *o++ = char(0x80 | (c & 0x3f));
        } else if (QChar::isHighSurrogate(c) && p < end && QChar::isLowSurrogate(*p)) {
            const char32_t u = QChar::surrogateToUcs4(c, *p++);
            *o++ = char(0xf0 | (u >> 18));
            *o++ = char(0x80 | ((u >> 12) & 0x3f));
            *o++ = char(0x80 | ((u >> 6) & 0x3f));
            *o++ = char(0x80 | (u & 0x3f));
        } else {
            const char16_t u = QChar::isSurrogate(c) ? char16_t(0xfffd) : c;
            *o++ = char(0xe0 | (u >> 12));
            *o++ = char(0x80 | ((u >> 6) & 0x3f));
            *o++ = char(0x80 | (u & 0x3f));
        }
    }
    *o++ = '"';
    out.append(buffer, size_t(o - buffer));
    return !nul;
}

// Appends the value of a text column unless it is NULL (empty, as textValue() binds
// it), and returns its shape bit; `exact` is cleared when the text holds a NUL.
quint32 appendText(std::string &out, int column, const QString &text, bool *exact = nullptr)
{
    if (text.isEmpty())
        return 0;
    const bool whole = appendString(out, text);
    if (exact)
        *exact = *exact && whole;
    return hasValue(column);
}

// The result column: StoreCodec::resultText, without making a QString for an integer.
quint32 appendResult(std::string &out, const QJsonValue &result)
{
    if (const auto integer = StoreCodec::integerResult(result)) {
        char text[32] = {',', '"'};
        char *end = std::to_chars(text + 2, text + sizeof text - 1, *integer).ptr;
        *end++ = '"';
        out.append(text, size_t(end - text));
        return hasValue(Result);
    }
    return appendText(out, Result, StoreCodec::resultText(result));
}

// Appends priority, attempt and the optional values a task row has; returns the shape
// bits of the state and of those values.
quint32 appendSnapshot(std::string &out, const StoreDatabase::TaskRow &row, bool *exact)
{
    const TaskSnapshot &s = *row.values;
    quint32 shape = quint32(s.state) << StateShift;
    appendInteger(out, s.priority);
    appendInteger(out, s.attempt);
    auto integer = [&](int column, qint64 value, bool present) {
        if (present) {
            appendInteger(out, value);
            shape |= hasValue(column);
        }
    };
    integer(Sequence, s.sequence, true);
    integer(SubmittedAt, s.submittedAtMs, s.submittedAtMs >= 0);
    integer(StartedAt, s.startedAtMs, s.startedAtMs >= 0);
    integer(FinishedAt, s.finishedAtMs, s.finishedAtMs >= 0);
    if (s.progress >= 0) { // never set is -1 (and a NaN stays NULL, as bound)
        appendReal(out, s.progress);
        shape |= hasValue(Progress);
    }
    shape |= appendText(out, Status, s.status, exact);
    shape |= appendResult(out, s.result);
    shape |= appendText(out, Error, s.error, exact);
    shape |= appendText(out, Transitions, row.transitions);
    if (row.stack)
        shape |= StackWritten | appendText(out, Stack, *row.stack);
    if (row.logTail)
        shape |= LogTailWritten | appendText(out, LogTail, *row.logTail);
    return shape;
}

} // namespace

// The statements the writer runs. Task rows are written a transaction's worth at a time
// (see TaskRows): binding a dozen values per task through Qt Sql cost more than SQLite's
// work on the rows.
struct StoreDatabase::Statements
{
    explicit Statements(const QSqlDatabase &db)
        : db(db)
        , insertSpec(db)
        , insertSubmission(db)
        , materializeSubmissions(db)
        , countDamagedSubmissions(db)
        , deleteSubmissions(db)
        , removeMade(db)
        , updateExact(db)
        , storedTask(db)
        , specsOfTasks(db)
        , deleteTasks(db)
        , rememberForgotten(db)
        , deleteSpecIfUnused(db)
    {
    }

    // The query that failed, or nullptr.
    QSqlQuery *prepare()
    {
        const QString ids = QStringLiteral("SELECT value FROM json_each(CAST(? AS TEXT))");
        const std::pair<QSqlQuery *, QString> all[] = {
            {&insertSpec,
             QStringLiteral(
                 "INSERT INTO specs (file, kind, command, name, group_name, priority, timeout_ms,"
                 " retries, retry_delay_ms, memory_bytes, args, source)"
                 " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")},
            {&insertSubmission,
             QStringLiteral("INSERT INTO submissions (tasks) VALUES (CAST(? AS TEXT))")},
            // Each run counts its ids up; a task written since its submission has its row.
            {&materializeSubmissions,
             QLatin1String(SubmittedRuns) +
                 QStringLiteral(
                     ", run(id, last, spec, max_attempts, priority, sequence, submitted)"
                     " AS (SELECT json_extract(v, '$[0]'),"
                     " json_extract(v, '$[0]') + json_extract(v, '$[1]') - 1,"
                     " json_extract(v, '$[2]'), json_extract(v, '$[3]'),"
                     " json_extract(v, '$[4]'), json_extract(v, '$[5]'),"
                     " json_extract(v, '$[6]') FROM entry WHERE ok"
                     " UNION ALL SELECT id + 1, last, spec, max_attempts, priority, sequence + 1,"
                     " submitted FROM run WHERE id < last)"
                     " INSERT OR IGNORE INTO tasks (id, spec_id, max_attempts, priority, attempt,"
                     " state, submitted_at, sequence, transitions)"
                     " SELECT id, spec, max_attempts, priority, 0, 'pending', submitted, sequence,"
                     " 'pending@' || submitted FROM run")},
            {&countDamagedSubmissions,
             QLatin1String(SubmittedRuns) +
                 QStringLiteral(
                     " SELECT (SELECT count(*) FROM submissions"
                     " WHERE CASE WHEN json_valid(tasks) THEN json_type(tasks) != 'array'"
                     " ELSE 1 END)"
                     " + (SELECT count(*) FROM entry WHERE NOT ok)")},
            {&deleteSubmissions, QStringLiteral("DELETE FROM submissions")},
            {&removeMade, QStringLiteral("DELETE FROM tasks WHERE spec_id = -1")},
            {&updateExact, QStringLiteral("UPDATE tasks SET status = ?, error = ? WHERE id = ?")},
            {&storedTask,
             QStringLiteral("SELECT state, spec_id, log_tail FROM tasks WHERE id = ?")},
            {&specsOfTasks,
             QStringLiteral("SELECT DISTINCT spec_id FROM tasks WHERE id IN (%1)").arg(ids)},
            {&deleteTasks, QStringLiteral("DELETE FROM tasks WHERE id IN (%1)").arg(ids)},
            // The highest id forget() deleted, so that ids are never used twice.
            {&rememberForgotten,
             QStringLiteral("INSERT INTO meta (key, value)"
                            " SELECT 'forgotten_max_id', max(value) FROM json_each(CAST(? AS TEXT))"
                            " WHERE true ON CONFLICT(key) DO UPDATE SET"
                            " value = max(value, excluded.value)")},
            {&deleteSpecIfUnused,
             QStringLiteral("DELETE FROM specs WHERE id = ?"
                            " AND NOT EXISTS (SELECT 1 FROM tasks WHERE spec_id = ?)")},
        };
        for (const auto &[query, sql] : all) {
            query->setForwardOnly(true);
            if (!query->prepare(sql))
                return query;
        }
        // The shapes that write every column: the rest are made when first used.
        constexpr quint32 every = (hasValue(OptionalCount) - 1) & ~(hasValue(0) - 1);
        for (quint32 shape : {quint32(RowKind::Insert) | every | StackWritten | LogTailWritten,
                              quint32(RowKind::Update) | every | StackWritten | LogTailWritten,
                              quint32(RowKind::Live) | hasValue(Stack) | hasValue(LogTail) |
                                  StackWritten | LogTailWritten}) {
            if (QSqlQuery *failed = rowStatement(shape))
                return failed;
        }
        return nullptr;
    }

    // The statement of a shape of task rows, prepared the first time; on failure, the
    // query that failed (and rows[shape] is null).
    QSqlQuery *rowStatement(quint32 shape)
    {
        std::unique_ptr<QSqlQuery> &query = rows[shape];
        if (query)
            return nullptr;
        auto made = std::make_unique<QSqlQuery>(db);
        made->setForwardOnly(true);
        if (!made->prepare(rowsStatement(shape))) {
            failed = std::move(made);
            return failed.get();
        }
        query = std::move(made);
        return nullptr;
    }

    QSqlDatabase db;
    QSqlQuery insertSpec;
    QSqlQuery insertSubmission;
    QSqlQuery materializeSubmissions;
    QSqlQuery countDamagedSubmissions;
    QSqlQuery deleteSubmissions;
    std::unordered_map<quint32, std::unique_ptr<QSqlQuery>> rows; // by shape
    std::unique_ptr<QSqlQuery> failed;                            // the last that failed
    QSqlQuery removeMade;
    QSqlQuery updateExact;
    QSqlQuery storedTask;
    QSqlQuery specsOfTasks;
    QSqlQuery deleteTasks;
    QSqlQuery rememberForgotten;
    QSqlQuery deleteSpecIfUnused;
};

StoreDatabase::StoreDatabase()
{
    static std::atomic<int> connections{0};
    m_connection = ConnectionPrefix + QString::number(++connections);
}

StoreDatabase::~StoreDatabase()
{
    close();
}

void StoreDatabase::close()
{
    m_statements.reset();
    m_db.close();
    m_db = QSqlDatabase();
    if (QSqlDatabase::contains(m_connection))
        QSqlDatabase::removeDatabase(m_connection);
}

bool StoreDatabase::fail(const QSqlQuery &query)
{
    m_lastError = describe(query.lastError());
    return false;
}

// ---- opening ----

StoreOpenResult StoreDatabase::open(const QString &dataDir)
{
    close();
    const QString dir = QDir::cleanPath(QDir(dataDir).absolutePath());
    m_path = dir + u'/' + QLatin1String(StoreFiles::FileName);
    auto failed = [this](const QString &reason) {
        close();
        return StoreOpenResult{
            StoreOpenStatus::Failed,
            QStringLiteral("cannot use %1: %2; running without a task store "
                           "(choose another with --data-dir DIR)")
                .arg(m_path, reason)};
    };
    if (const QString problem = locationProblem(dir, m_path); !problem.isEmpty())
        return failed(problem);

    QString problem;
    switch (connect(&problem)) {
    case Outcome::Ready:
        return {StoreOpenStatus::Opened, {}};
    case Outcome::Unusable:
        return failed(problem);
    case Outcome::Corrupt:
        break;
    }
    close();
    QString moveError;
    const QString aside = moveAside(&moveError);
    if (aside.isEmpty())
        return failed(QStringLiteral("it is unreadable (%1) and cannot be moved aside (%2)")
                          .arg(problem, moveError));
    QString again;
    if (connect(&again) != Outcome::Ready)
        return failed(again);
    return {StoreOpenStatus::Recreated,
            QStringLiteral("%1 was unreadable (%2): moved it to %3 and started an empty task "
                           "store")
                .arg(m_path, problem, aside)};
}

// Opens m_path, checks it and brings its schema up; on anything but Ready the caller
// closes.
StoreDatabase::Outcome StoreDatabase::connect(QString *problem)
{
    m_db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), m_connection);
    if (!m_db.isValid()) {
        *problem = QStringLiteral("the Qt SQLite driver is not available");
        return Outcome::Unusable;
    }
    makePrivate(m_path);
    m_db.setDatabaseName(m_path);
    m_db.setConnectOptions(QStringLiteral("QSQLITE_BUSY_TIMEOUT=5000"));
    if (!m_db.open()) {
        *problem = describe(m_db.lastError());
        return isCorruption(m_db.lastError()) ? Outcome::Corrupt : Outcome::Unusable;
    }
    QSqlQuery query(m_db);
    query.setForwardOnly(true);
    auto scalar = [&](const char *sql, QVariant *value) {
        if (!query.exec(QString::fromLatin1(sql)))
            return false;
        *value = query.next() ? query.value(0) : QVariant();
        query.finish();
        return true;
    };
    auto queryFailed = [&] {
        *problem = describe(query.lastError());
        return isCorruption(query.lastError()) ? Outcome::Corrupt : Outcome::Unusable;
    };

    // Read before anything is written: a newer store is left exactly as it is.
    QVariant value;
    if (!scalar("PRAGMA user_version", &value))
        return queryFailed();
    const int version = value.toInt();
    if (version > SchemaVersion) {
        *problem = QStringLiteral("it was written by a newer Taskdeck (store version %1; this "
                                  "one knows up to %2)")
                       .arg(version)
                       .arg(SchemaVersion);
        return Outcome::Unusable;
    }
    if (!scalar("PRAGMA quick_check", &value))
        return queryFailed();
    if (value.toString() != u"ok") {
        *problem = QStringLiteral("quick_check: %1").arg(value.toString());
        return Outcome::Corrupt;
    }
    if (version == 0) {
        if (!scalar("SELECT count(*) FROM sqlite_master", &value))
            return queryFailed();
        if (value.toInt() > 0) {
            *problem = QStringLiteral("it is an SQLite database but not a Taskdeck task store");
            return Outcome::Corrupt;
        }
    }
    if (!scalar("PRAGMA journal_mode = WAL", &value))
        return queryFailed();
    if (value.toString() != u"wal")
        qWarning("taskdeck: %s: no write-ahead log (journal mode %s)", qPrintable(m_path),
                 qPrintable(value.toString()));
    if (!scalar("PRAGMA synchronous = NORMAL", &value))
        return queryFailed();
    if (version < SchemaVersion) {
        if (const Outcome made = createSchema(version, problem); made != Outcome::Ready)
            return made;
    }
    return prepareStatements(problem);
}

// Creates the tables a store of `version` (0: a new file) lacks.
StoreDatabase::Outcome StoreDatabase::createSchema(int version, QString *problem)
{
    if (!m_db.transaction()) {
        *problem = describe(m_db.lastError());
        return Outcome::Unusable;
    }
    QSqlQuery query(m_db);
    std::vector<const char *> statements;
    if (version < 1)
        statements.insert(statements.end(), std::begin(Schema), std::end(Schema));
    statements.insert(statements.end(), std::begin(SchemaVersion2), std::end(SchemaVersion2));
    for (const char *sql : statements) {
        if (!query.exec(QString::fromLatin1(sql))) {
            *problem = QStringLiteral("cannot create the tables: ") + describe(query.lastError());
            m_db.rollback();
            return Outcome::Unusable;
        }
    }
    if (!query.exec(QStringLiteral("PRAGMA user_version = %1").arg(SchemaVersion)) ||
        !m_db.commit()) {
        *problem = QStringLiteral("cannot create the tables: ") + describe(query.lastError());
        m_db.rollback();
        return Outcome::Unusable;
    }
    return Outcome::Ready;
}

// Preparing every statement is also the check that the schema is readable.
StoreDatabase::Outcome StoreDatabase::prepareStatements(QString *problem)
{
    m_statements = std::make_unique<Statements>(m_db);
    if (QSqlQuery *failed = m_statements->prepare()) {
        const QSqlError error = failed->lastError();
        *problem = QStringLiteral("its tables cannot be read: ") + describe(error);
        m_statements.reset();
        switch (sqliteCode(error)) {
        case 5:  // SQLITE_BUSY
        case 6:  // SQLITE_LOCKED
        case 7:  // SQLITE_NOMEM
        case 10: // SQLITE_IOERR
        case 14: // SQLITE_CANTOPEN
            return Outcome::Unusable;
        default:
            return Outcome::Corrupt;
        }
    }
    return Outcome::Ready;
}

// Renames the store and its -wal/-shm to taskdeck.db.corrupt-YYYYMMDD-HHMMSS[-N] beside
// it; returns the new name of the store, or empty (and why in `error`).
QString StoreDatabase::moveAside(QString *error) const
{
    const QString stamp = QDateTime::currentDateTime().toString(QStringLiteral("yyyyMMdd-HHmmss"));
    QString aside = m_path + QStringLiteral(".corrupt-") + stamp;
    for (int n = 2; QFileInfo::exists(aside) || QFileInfo::exists(aside + QStringLiteral("-wal"));
         ++n)
        aside = m_path + QStringLiteral(".corrupt-") + stamp + u'-' + QString::number(n);
    QFile file(m_path);
    if (!file.rename(aside)) {
        *error = file.errorString();
        return {};
    }
    for (const QString &suffix : {QStringLiteral("-wal"), QStringLiteral("-shm")}) {
        if (QFileInfo::exists(m_path + suffix) && !QFile::rename(m_path + suffix, aside + suffix))
            QFile::remove(m_path + suffix); // never pair a fresh store with an old log
    }
    return aside;
}

bool StoreFiles::makeDataDir(const QString &dir)
{
    const QString clean = QDir::cleanPath(QDir(dir).absolutePath());
    if (QFileInfo(clean).isDir())
        return true;
    const QFileInfo info(clean);
    if (!QDir().mkpath(info.absolutePath()))
        return false;
    return QDir(info.absolutePath())
               .mkdir(info.fileName(),
                      QFileDevice::ReadOwner | QFileDevice::WriteOwner | QFileDevice::ExeOwner) ||
           QFileInfo(clean).isDir();
}

// ---- writing ----

bool StoreDatabase::begin()
{
    if (!m_statements) {
        m_lastError = QStringLiteral("the task store is not open");
        return false;
    }
    if (m_db.transaction())
        return true;
    m_lastError = describe(m_db.lastError());
    return false;
}

void StoreDatabase::rollback()
{
    m_db.rollback();
}

bool StoreDatabase::commit()
{
    if (m_db.commit())
        return true;
    m_lastError = describe(m_db.lastError());
    m_db.rollback();
    return false;
}

qint64 StoreDatabase::insertSpec(const TaskSpec &spec)
{
    QSqlQuery &q = m_statements->insertSpec;
    q.addBindValue(spec.file);
    q.addBindValue(StoreCodec::kindName(spec.kind));
    q.addBindValue(StoreCodec::stringsText(spec.command));
    q.addBindValue(spec.name);
    q.addBindValue(spec.group);
    q.addBindValue(spec.priority);
    q.addBindValue(spec.timeoutMs);
    q.addBindValue(spec.retries);
    q.addBindValue(spec.retryDelayMs);
    q.addBindValue(spec.memoryBytes);
    q.addBindValue(StoreCodec::argsText(spec.args));
    q.addBindValue(spec.source);
    if (!q.exec()) {
        fail(q);
        return 0;
    }
    const qint64 row = q.lastInsertId().toLongLong();
    q.finish();
    return row;
}

// ---- TaskRows ----

void StoreDatabase::TaskRows::insert(const TaskRow &row)
{
    const TaskSnapshot &s = *row.values;
    m_values.clear();
    appendInteger(m_values, qint64(row.id));
    appendInteger(m_values, row.specRow);
    appendInteger(m_values, s.maxAttempts);
    bool exact = true;
    add(quint32(RowKind::Insert) | StackWritten | LogTailWritten |
        appendSnapshot(m_values, row, &exact));
    if (!exact)
        m_exact.push_back({row.id, s.status, s.error});
}

void StoreDatabase::TaskRows::update(const TaskRow &row)
{
    m_values.resize(0);
    appendInteger(m_values, qint64(row.id));
    bool exact = true;
    add(quint32(RowKind::Update) | appendSnapshot(m_values, row, &exact));
    if (!exact)
        m_exact.push_back({row.id, row.values->status, row.values->error});
}

void StoreDatabase::TaskRows::updateLive(TaskId id, const std::optional<QString> &stack,
                                         const std::optional<QString> &logTail)
{
    if (!stack && !logTail)
        return;
    m_values.resize(0);
    appendInteger(m_values, qint64(id));
    quint32 shape = quint32(RowKind::Live);
    if (stack)
        shape |= StackWritten | appendText(m_values, Stack, *stack);
    if (logTail)
        shape |= LogTailWritten | appendText(m_values, LogTail, *logTail);
    add(shape);
}

// The rows of `shape` that the next row goes to.
StoreDatabase::TaskRows::Rows &StoreDatabase::TaskRows::rowsOf(quint32 shape)
{
    constexpr int ChunkRows = 8192;
    if (m_last >= m_rows.size() || m_rows[m_last].shape != shape) {
        m_last = m_rows.size();
        for (size_t i = 0; i < m_rows.size(); ++i) {
            if (m_rows[i].shape == shape)
                m_last = i; // the last of them, the one not full if any
        }
    }
    if (m_last == m_rows.size() || m_rows[m_last].count >= ChunkRows) {
        m_last = m_rows.size();
        m_rows.push_back(Rows{shape, 0, {}});
    }
    return m_rows[m_last];
}

// Adds the row in m_values to the rows of `shape`.
void StoreDatabase::TaskRows::add(quint32 shape)
{
    Rows &rows = rowsOf(shape);
    rows.json += rows.json.empty() ? "[[" : ",[";
    rows.json.append(m_values, 1); // without the first ','
    rows.json += ']';
    ++rows.count;
}

void StoreDatabase::TaskRows::clear()
{
    m_rows.clear();
    m_last = 0;
    m_exact.clear();
}

QSqlQuery *StoreDatabase::rowStatement(quint32 shape)
{
    if (QSqlQuery *failed = m_statements->rowStatement(shape)) {
        fail(*failed);
        return nullptr;
    }
    return m_statements->rows[shape].get();
}

// Runs `q` with the array of rows `rows` (closing it) as its value.
bool StoreDatabase::execRows(QSqlQuery &q, std::string &rows)
{
    rows += ']';
    // A blob (UTF-8 as it is, read as text: the CAST in the statement), not copied.
    q.bindValue(0, QByteArray::fromRawData(rows.data(), qsizetype(rows.size())));
    const bool ok = q.exec() || fail(q);
    q.finish();
    q.bindValue(0, QVariant()); // lets go of `rows`
    return ok;
}

bool StoreDatabase::writeTasks(TaskRows &rows)
{
    bool ok = true;
    bool updated = false;
    // A task has one row in a transaction: the order of the rows does not matter.
    for (size_t i = 0; ok && i < rows.m_rows.size(); ++i) {
        TaskRows::Rows &some = rows.m_rows[i];
        const auto kind = RowKind(some.shape & KindMask);
        QSqlQuery *q = rowStatement(some.shape);
        ok = q && execRows(*q, some.json);
        updated = updated || kind == RowKind::Update;
    }
    if (ok && updated) {
        // An update never makes a row: where one was missing, its upsert inserted it with
        // spec_id -1 (and max_attempts 0), which no row has otherwise.
        QSqlQuery &q = m_statements->removeMade;
        ok = q.exec() || fail(q);
        q.finish();
    }
    for (size_t i = 0; ok && i < rows.m_exact.size(); ++i) {
        const TaskRows::Exact &exact = rows.m_exact[i];
        QSqlQuery &q = m_statements->updateExact;
        q.addBindValue(textValue(exact.status));
        q.addBindValue(textValue(exact.error));
        q.addBindValue(qint64(exact.id));
        ok = q.exec() || fail(q);
        q.finish();
    }
    rows.clear();
    return ok;
}

std::optional<TaskId> StoreDatabase::highestId()
{
    QSqlQuery q(m_db);
    if (!q.exec(QStringLiteral("SELECT max(coalesce((SELECT MAX(id) FROM tasks), 0),"
                               " coalesce((SELECT value FROM meta"
                               " WHERE key = 'forgotten_max_id'), 0),"
                               " coalesce((SELECT max(json_extract(g.value, '$[0]')"
                               " + json_extract(g.value, '$[1]') - 1) FROM submissions AS s,"
                               " json_each(s.tasks) AS g WHERE json_valid(s.tasks)"
                               " AND g.type = 'array'), 0))")) ||
        !q.next()) {
        fail(q);
        return std::nullopt;
    }
    return TaskId(q.value(0).toLongLong());
}

bool StoreDatabase::insertSubmissions(const std::vector<SubmittedRun> &runs)
{
    if (runs.empty())
        return true;
    std::string text;
    text.reserve(runs.size() * 64);
    for (const SubmittedRun &run : runs) {
        text += text.empty() ? "[[" : "],[";
        appendDigits(text, qint64(run.firstId));
        for (qint64 value : {run.count, run.specRow, qint64(run.maxAttempts), qint64(run.priority),
                             run.firstSequence, run.submittedAtMs})
            appendInteger(text, value);
    }
    text += "]]";
    QSqlQuery &q = m_statements->insertSubmission;
    q.bindValue(0, QByteArray::fromRawData(text.data(), qsizetype(text.size())));
    const bool ok = q.exec() || fail(q);
    q.finish();
    q.bindValue(0, QVariant());
    return ok;
}

bool StoreDatabase::materializeSubmissions()
{
    for (QSqlQuery *q : {&m_statements->materializeSubmissions, &m_statements->deleteSubmissions}) {
        if (!q->exec())
            return fail(*q);
        q->finish();
    }
    return true;
}

std::optional<StoreDatabase::StoredTask> StoreDatabase::storedTask(TaskId id)
{
    QSqlQuery &q = m_statements->storedTask;
    q.addBindValue(qint64(id));
    if (!q.exec()) {
        fail(q);
        return std::nullopt;
    }
    std::optional<StoredTask> stored;
    if (q.next()) {
        stored = StoredTask{
            StoreCodec::stateFromName(q.value(0).toString()).value_or(TaskState::Pending),
            q.value(1).toLongLong(), StoreCodec::stringsFromText(q.value(2).toString())};
    }
    q.finish();
    return stored;
}

bool StoreDatabase::deleteTasks(const std::vector<TaskId> &ids, std::set<qint64> *specRows)
{
    if (ids.empty())
        return true;
    std::string text;
    for (TaskId id : ids)
        appendInteger(text, qint64(id));
    text[0] = '[';
    text += ']';
    const QByteArray list = QByteArray::fromRawData(text.data(), qsizetype(text.size()));
    QSqlQuery &specs = m_statements->specsOfTasks;
    specs.addBindValue(list);
    if (!specs.exec())
        return fail(specs);
    while (specs.next())
        specRows->insert(specs.value(0).toLongLong());
    specs.finish();
    for (QSqlQuery *q : {&m_statements->deleteTasks, &m_statements->rememberForgotten}) {
        q->addBindValue(list);
        if (!q->exec())
            return fail(*q);
        q->finish();
    }
    return true;
}

bool StoreDatabase::deleteSpecIfUnused(qint64 specRow, bool *deleted)
{
    QSqlQuery &q = m_statements->deleteSpecIfUnused;
    q.addBindValue(specRow);
    q.addBindValue(specRow);
    if (!q.exec())
        return fail(q);
    *deleted = q.numRowsAffected() > 0;
    q.finish();
    return true;
}

// ---- recovering ----

std::optional<StoreDatabase::Recovered> StoreDatabase::recover(int historyLimit, qint64 nowMs,
                                                               bool deleteUnusedSpecs)
{
    if (!begin())
        return std::nullopt;
    auto abort = [this](const QSqlQuery &query) -> std::optional<Recovered> {
        fail(query);
        m_db.rollback();
        return std::nullopt;
    };
    QSqlQuery q(m_db);
    q.setForwardOnly(true);

    // Submitted tasks that had no row yet are pending ones.
    Recovered out;
    QSqlQuery &damaged = m_statements->countDamagedSubmissions;
    if (!damaged.exec())
        return abort(damaged);
    out.damagedSubmissions = damaged.next() ? damaged.value(0).toInt() : 0;
    damaged.finish();
    if (!materializeSubmissions()) {
        m_db.rollback();
        return std::nullopt;
    }

    // Tasks that were running when Taskdeck stopped did not fail: they were interrupted.
    QSet<TaskId> interrupted;
    QStringList groups;
    if (!q.exec(QStringLiteral("SELECT t.id, s.group_name FROM tasks t"
                               " LEFT JOIN specs s ON s.id = t.spec_id"
                               " WHERE t.state = 'running'")))
        return abort(q);
    while (q.next()) {
        interrupted.insert(TaskId(q.value(0).toLongLong()));
        if (const QString group = q.value(1).toString();
            !group.isEmpty() && !groups.contains(group))
            groups.append(group);
    }
    q.finish();
    if (!interrupted.isEmpty()) {
        q.prepare(QStringLiteral("UPDATE tasks SET state = 'interrupted',"
                                 " error = ?,"
                                 " finished_at = ?, transitions = ltrim(transitions || ' ' || ?)"
                                 " WHERE state = 'running'"));
        q.addBindValue(QStringLiteral("interrupted: Taskdeck stopped while it ran"));
        q.addBindValue(nowMs);
        q.addBindValue(QStringLiteral("interrupted@%1").arg(nowMs));
        if (!q.exec())
            return abort(q);
    }
    if (deleteUnusedSpecs &&
        !q.exec(QStringLiteral("DELETE FROM specs WHERE NOT EXISTS"
                               " (SELECT 1 FROM tasks WHERE tasks.spec_id = specs.id)")))
        return abort(q);

    struct Row
    {
        RestoredTask task;
        qint64 specRow = 0;
    };
    auto read = [](const QSqlQuery &q) {
        Row row;
        TaskSnapshot &s = row.task.snapshot;
        s.id = TaskId(q.value(0).toLongLong());
        row.specRow = q.value(1).toLongLong();
        s.priority = q.value(2).toInt();
        s.sequence = q.value(3).toLongLong();
        s.state = StoreCodec::stateFromName(q.value(4).toString()).value_or(TaskState::Failed);
        s.attempt = q.value(5).toInt();
        s.maxAttempts = q.value(6).toInt();
        s.submittedAtMs = timeFrom(q.value(7));
        s.startedAtMs = timeFrom(q.value(8));
        s.finishedAtMs = timeFrom(q.value(9));
        s.progress = q.value(10).isNull() ? -1 : q.value(10).toDouble();
        s.status = q.value(11).toString();
        s.result = StoreCodec::resultFromText(q.value(12).toString());
        s.error = q.value(13).toString();
        s.stack = StoreCodec::stackFromText(q.value(14).toString());
        row.task.log = StoreCodec::stringsFromText(q.value(15).toString());
        return row;
    };
    const QString columns = QString::fromLatin1(TaskColumns);

    // The history: the most recently finished, and every interrupted task, by id.
    std::vector<Row> finished;
    q.prepare(QStringLiteral("SELECT %1 FROM tasks WHERE finished_at IS NOT NULL"
                             " AND state NOT IN ('pending', 'running')"
                             " ORDER BY finished_at DESC, id DESC LIMIT ?")
                  .arg(columns));
    q.addBindValue(qMax(0, historyLimit));
    if (!q.exec())
        return abort(q);
    QSet<TaskId> seen;
    while (q.next()) {
        finished.push_back(read(q));
        seen.insert(finished.back().task.snapshot.id);
    }
    q.finish();
    if (!q.exec(QStringLiteral("SELECT %1 FROM tasks WHERE state = 'interrupted'").arg(columns)))
        return abort(q);
    while (q.next()) {
        if (!seen.contains(TaskId(q.value(0).toLongLong())))
            finished.push_back(read(q));
    }
    q.finish();
    std::sort(finished.begin(), finished.end(),
              [](const Row &a, const Row &b) { return a.task.snapshot.id < b.task.snapshot.id; });

    // The queue, in the engine's order: priority, then sequence (never published: last).
    std::vector<Row> pending;
    if (!q.exec(QStringLiteral("SELECT %1 FROM tasks WHERE state = 'pending'"
                               " ORDER BY priority DESC, sequence IS NULL, sequence, id")
                    .arg(columns)))
        return abort(q);
    while (q.next())
        pending.push_back(read(q));
    q.finish();

    // One TaskSpec per spec row, shared by its tasks.
    QHash<qint64, std::shared_ptr<const TaskSpec>> specs;
    q.prepare(QStringLiteral("SELECT file, kind, command, name, group_name, priority,"
                             " timeout_ms, retries, retry_delay_ms, memory_bytes, args, source"
                             " FROM specs WHERE id = ?"));
    auto specOf = [&](qint64 row) -> std::shared_ptr<const TaskSpec> {
        if (auto it = specs.constFind(row); it != specs.constEnd())
            return *it;
        std::shared_ptr<const TaskSpec> made;
        q.addBindValue(row);
        if (q.exec() && q.next()) {
            auto spec = std::make_shared<TaskSpec>();
            spec->file = q.value(0).toString();
            spec->kind = StoreCodec::kindFromName(q.value(1).toString()).value_or(ScriptKind::Lua);
            spec->command = StoreCodec::stringsFromText(q.value(2).toString());
            spec->name = q.value(3).toString();
            spec->group = q.value(4).toString();
            spec->priority = q.value(5).toInt();
            spec->timeoutMs = q.value(6).toLongLong();
            spec->retries = q.value(7).toInt();
            spec->retryDelayMs = q.value(8).toLongLong();
            spec->memoryBytes = q.value(9).toLongLong();
            spec->args = StoreCodec::argsFromText(q.value(10).toString());
            spec->source = q.value(11).toByteArray();
            made = std::move(spec);
        }
        q.finish();
        specs.insert(row, made); // a missing row stays missing
        return made;
    };

    StoreRecovery &recovery = out.recovery;
    recovery.tasks.reserve(qsizetype(finished.size() + pending.size()));
    auto take = [&](Row &row) {
        row.task.spec = specOf(row.specRow);
        if (!row.task.spec)
            return false; // nothing to run or show without its definition
        TaskSnapshot &s = row.task.snapshot;
        s.name = row.task.spec->name;
        s.file = row.task.spec->file;
        s.group = row.task.spec->group;
        s.kind = row.task.spec->kind;
        recovery.tasks.append(std::move(row.task));
        out.specRows.append(row.specRow);
        return true;
    };
    for (Row &row : finished) {
        const bool isNew = interrupted.contains(row.task.snapshot.id);
        if (take(row)) {
            ++recovery.finished;
            recovery.interrupted += isNew ? 1 : 0;
        }
    }
    for (Row &row : pending)
        recovery.pending += take(row) ? 1 : 0;
    recovery.interruptedGroups = groups;
    // Ids are never used twice, even those of tasks left out of the history or forgotten.
    const std::optional<TaskId> lastId = highestId();
    if (!lastId) {
        m_db.rollback();
        return std::nullopt;
    }
    recovery.lastId = *lastId;
    if (!commit())
        return std::nullopt;
    return out;
}
