#include "quitdialog.h"

#include <QPushButton>

QuitDialog::QuitDialog(int running, QWidget *parent)
    : QMessageBox(parent)
{
    setObjectName(QStringLiteral("quitDialog"));
    setIcon(QMessageBox::Question);
    setWindowTitle(tr("Quit Taskdeck"));
    setText(tr("%n task(s) are running.", nullptr, running));
    setInformativeText(
        tr("Wait, or Cancel them: nothing new starts (the queue is paused, and stays so at "
           "the next start) and Taskdeck quits once they have ended or cleaned up.\nQuit now: they "
           "come back interrupted at the next start, their groups "
           "paused, for you to re-run."));
    m_wait = addButton(tr("&Wait for them"), QMessageBox::AcceptRole);
    m_wait->setObjectName(QStringLiteral("quitWait"));
    m_cancel = addButton(tr("&Cancel them and quit"), QMessageBox::DestructiveRole);
    m_cancel->setObjectName(QStringLiteral("quitCancel"));
    m_quit = addButton(tr("&Quit now"), QMessageBox::DestructiveRole);
    m_quit->setObjectName(QStringLiteral("quitNow"));
    QPushButton *stay = addButton(tr("&Don't quit"), QMessageBox::RejectRole);
    stay->setObjectName(QStringLiteral("quitStay"));
    setDefaultButton(m_wait);
    setEscapeButton(stay);
}

QuitDialog::Choice QuitDialog::choice() const
{
    const QAbstractButton *clicked = clickedButton();
    if (clicked == m_wait)
        return Wait;
    if (clicked == m_cancel)
        return CancelThem;
    if (clicked == m_quit)
        return QuitNow;
    return Stay;
}

QuitDialog::Choice QuitDialog::ask(int running, QWidget *parent)
{
    QuitDialog dialog(running, parent);
    dialog.exec();
    return dialog.choice();
}
