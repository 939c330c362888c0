// StoreDatabase: opening the file, checking it and bringing its schema up.
#include "storesql.h"

#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QFileInfo>

#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace StoreSql;

namespace {

// SQLite's primary result codes that mean "this file is damaged or not a database".
constexpr int SqliteCorrupt = 11;
constexpr int SqliteNotADatabase = 26;

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

// Added by version 3: the user's decisions (limits, paused state), kept as they change.
const char *const SchemaVersion3[] = {
    "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
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

} // namespace

// ---- opening ----

StoreOpenResult StoreDatabase::open(const QString &dataDir)
{
    close();
    const QString dir = QDir::cleanPath(QDir(dataDir).absolutePath());
    m_path = dir + u'/' + QLatin1String(StoreFiles::FileName);
    auto failed = [this](const QString &reason) {
        close();
        return StoreOpenResult{StoreOpenStatus::Failed,
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
    if (version < 2)
        statements.insert(statements.end(), std::begin(SchemaVersion2), std::end(SchemaVersion2));
    statements.insert(statements.end(), std::begin(SchemaVersion3), std::end(SchemaVersion3));
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

QSqlQuery *StoreDatabase::Statements::prepare()
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
             QStringLiteral(" SELECT (SELECT count(*) FROM submissions"
                            " WHERE CASE WHEN json_valid(tasks) THEN json_type(tasks) != 'array'"
                            " ELSE 1 END)"
                            " + (SELECT count(*) FROM entry WHERE NOT ok)")},
        {&deleteSubmissions, QStringLiteral("DELETE FROM submissions")},
        {&removeMade, QStringLiteral("DELETE FROM tasks WHERE spec_id = -1")},
        {&updateExact, QStringLiteral("UPDATE tasks SET status = ?, error = ? WHERE id = ?")},
        {&storedTask, QStringLiteral("SELECT state, spec_id, log_tail FROM tasks WHERE id = ?")},
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
